-- Apply order events to the admin-wide listings, each at most once and never backwards: an
-- event older than (or as old as) the order's last one applied changes nothing.
-- KEYS: 1 hash order id -> "<version>:<status listed>", 2 all orders, 3.. one per status
-- ARGV: 1 how many statuses (k), 2..k+1 their names (as KEYS 3..), then per event:
--       order id, version, status ('' unlisted), index member
-- Returns how many events changed something.
local k = tonumber(ARGV[1])
local by_status = {}
for i = 1, k do
  by_status[ARGV[1 + i]] = KEYS[2 + i]
end
local applied = 0
for i = k + 2, #ARGV, 4 do
  local id, version, status, member = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3]
  local seen = redis.call('HGET', KEYS[1], id)
  local old_version, old_status = -1, ''
  if seen then
    local sep = string.find(seen, ':', 1, true)
    old_version, old_status = tonumber(string.sub(seen, 1, sep - 1)), string.sub(seen, sep + 1)
  end
  if version > old_version then
    redis.call('HSET', KEYS[1], id, version .. ':' .. status)
    redis.call('ZADD', KEYS[2], 0, member)
    if old_status ~= status then
      if by_status[old_status] then
        redis.call('ZREM', by_status[old_status], member)
      end
      if by_status[status] then
        redis.call('ZADD', by_status[status], 0, member)
      end
    end
    applied = applied + 1
  end
end
return applied
