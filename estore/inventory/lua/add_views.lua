-- Add the views an instance counted since its last flush (GetProduct itself writes nothing).
-- Products deleted since are skipped: no analytics hash outlives its product. A batch sent
-- again (its first try failed or timed out after Redis ran it) is found by its marker and
-- skipped, so no view is counted twice.
-- KEYS: 1 the batch's marker, then product 1, analytics 1, product 2, analytics 2, ...
-- ARGV: 1 seconds the marker is kept, then views 1, last viewed 1 (ms), views 2, ...
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return -1
end
local counted = 0
for i = 2, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HINCRBY', KEYS[i + 1], 'views', ARGV[i])
    local last = tonumber(redis.call('HGET', KEYS[i + 1], 'last_viewed') or '0')
    if tonumber(ARGV[i + 1]) > last then
      redis.call('HSET', KEYS[i + 1], 'last_viewed', ARGV[i + 1])
    end
    counted = counted + 1
  end
end
return counted
