-- Benchmark module (scripts/bench-storm only): a full collection of Prosody's Lua heap
-- on request, answering the heap's size after it. Every storm then starts from the same
-- heap instead of wherever the incremental collector's cycle stood, and the benchmark
-- sees the live memory a storm leaves behind, which RSS hides (the allocator keeps pages).
module:depends("http");

module:provides("http", {
	route = {
		["POST /collect"] = function()
			collectgarbage("collect");
			collectgarbage("collect"); -- what the first pass's finalizers released
			return string.format("%d\n", math.floor(collectgarbage("count")));
		end;
	};
});
