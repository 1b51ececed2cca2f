//! The `jitsi_tokens` Lua C module: a thin mlua layer over `jitsi-tokens-verifier`.

use mlua::prelude::*;

#[mlua::lua_module]
fn jitsi_tokens(lua: &Lua) -> LuaResult<LuaTable> {
    let exports = lua.create_table()?;
    exports.set("version", env!("CARGO_PKG_VERSION"))?;
    Ok(exports)
}
