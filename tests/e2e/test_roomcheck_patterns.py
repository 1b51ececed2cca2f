"""The verifier's Lua-pattern matcher (room claims with context.room.regex) against
the real `string.find` of lua5.4, in the same interpreter that loads the module:
random patterns and names, including malformed patterns."""

import random

from test_lua_module import cpath, run_lua  # noqa: F401 (cpath is a fixture)

SCRIPT = r"""
local jt = require "jitsi_tokens"
local rule = jt.room_rule("c.x", { token_regex_max_quantifiers = 1000, token_regex_room_max_length = 1000 })
local seed, n = tonumber(os.getenv("SEED")), tonumber(os.getenv("N"))
math.randomseed(seed)
local atoms = { "a", "b", "(", ")", "%", ".", "[", "]", "^", "$", "*", "+", "-", "?", "1", "f", "%a", "%b()", "[^a]", "%f[a]" }
local letters = { "a", "b", "(", ")", "1" }
local differ, checked = 0, 0
for _ = 1, n do
  local p = {}
  for i = 1, math.random(1, 6) do p[i] = atoms[math.random(#atoms)] end
  local pattern = table.concat(p)
  local s = {}
  for i = 1, math.random(1, 6) do s[i] = letters[math.random(#letters)] end
  local name = table.concat(s)
  local ok, a, b = pcall(string.find, name, pattern:sub(1, 1) == "^" and pattern or "^" .. pattern)
  local lua = not ok and "invalid-regex" or (a == 1 and b == #name) and "allow" or "room-name-does-not-match"
  local allowed, code, _, why = rule:check(name .. "@c.x", true, pattern, "*", { regex = true })
  local ours = allowed and "allow" or code
  -- "*" is the any-room claim before it is a pattern.
  if pattern ~= "*" and not why:find("too costly", 1, true) then
    checked = checked + 1
    if ours ~= lua then
      differ = differ + 1
      print(("DIFFER %q on %q: lua %s, ours %s (%s)"):format(pattern, name, lua, ours, why))
    end
  end
end
print(("checked %d differ %d"):format(checked, differ))
"""


def test_matcher_agrees_with_lua_string_find(cpath):  # noqa: F811
    seed = random.randrange(1 << 30)
    out = run_lua(cpath, SCRIPT, env={"SEED": str(seed), "N": "20000"})
    last = out.strip().splitlines()[-1]
    checked, differ = int(last.split()[1]), int(last.split()[3])
    assert checked > 15000 and differ == 0, f"SEED={seed}\n{out[-4000:]}"
