-- A bucket's due work in one call: the members of each of its lease indexes whose lease or
-- deadline has passed, most overdue first (one script instead of four reads per bucket).
-- KEYS: the bucket's lease indexes (keys.WHICH order); ARGV[1] now ms, ARGV[2] at most per index.
-- Returns one list of members per index.
local found = {}
for i = 1, #KEYS do
  found[i] = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
end
return found
