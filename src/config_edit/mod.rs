//! Lossless edits of Prosody's Lua config files through a real Lua parser (full_moon).
