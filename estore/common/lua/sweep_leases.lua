-- Keep this instance's share of the sweep leases (one per range of buckets): renew the ones it
-- holds, give back those above its share, take free ones up to it. The share is the ranges
-- over the live instances (those that ran this script within one lease).
-- KEYS: the live instances (member: instance, score: last seen ms), then each range's lease.
-- ARGV: 1 this instance, 2 lease ms, 3 where this instance starts looking for free ranges,
--       4 '1' to give back every lease (the instance stops), 5 now (ms, the instance's clock:
--       it only ages the list of live instances).
-- Returns the indexes (0-based) of the ranges held now.
local now = tonumber(ARGV[5])
local lease = tonumber(ARGV[2])
local ranges = #KEYS - 1
local share = 0
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - lease)
  share = math.ceil(ranges / redis.call('ZCARD', KEYS[1]))
end
local held = {}
for i = 1, ranges do
  local key = KEYS[i + 1]
  if redis.call('GET', key) == ARGV[1] then
    if #held < share then
      redis.call('PEXPIRE', key, lease)
      held[#held + 1] = i - 1
    else
      redis.call('DEL', key)
    end
  end
end
local start = tonumber(ARGV[3])
for step = 0, ranges - 1 do
  if #held >= share then
    break
  end
  local i = (start + step) % ranges
  if redis.call('SET', KEYS[i + 2], ARGV[1], 'NX', 'PX', lease) then
    held[#held + 1] = i
  end
end
return held
