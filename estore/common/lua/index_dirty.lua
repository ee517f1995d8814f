-- Take the buckets rung since the last take (their streams have new events), of the ranges an
-- indexer holds. KEYS[1] the doorbell (member: bucket, score: its range); ARGV: range indexes.
-- Returns the buckets, removed from the doorbell.
local held = {}
for i = 1, #ARGV do
  held[tonumber(ARGV[i])] = true
end
local found = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local rung = {}
for i = 1, #found, 2 do
  if held[tonumber(found[i + 1])] then
    rung[#rung + 1] = found[i]
  end
end
if #rung > 0 then
  redis.call('ZREM', KEYS[1], unpack(rung))
end
return rung
