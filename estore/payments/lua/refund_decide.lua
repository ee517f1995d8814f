-- Decide a refund: count it in the order's refund_amount and record it PENDING, if the order
-- still has the status and refund_amount it had when read (compare-and-set).
-- KEYS: 1 order hash, 2 refunds list, 3 refund states hash, 4 refunds in progress
-- ARGV: 1 expected status, 2 expected refund_amount, 3 new refund_amount, 4 refund id,
--       5 the refund as decided (JSON), 6 its in-progress member, 7 lease deadline ms,
--       8 updated_at ms, then for a refund by lines: field, units per line refunded
--       (the order's `refunded:<product id>` counters).
-- Returns 1 decided, 0 the order changed meanwhile, -1 no such order, 2 this refund id exists.
local current = redis.call('HMGET', KEYS[1], 'status', 'refund_amount')
if not current[1] then
  return -1
end
if redis.call('HEXISTS', KEYS[3], ARGV[4]) == 1 then
  return 2
end
if current[1] ~= ARGV[1] or current[2] ~= ARGV[2] then
  return 0
end
-- Refunds made before refunds were sagas are all settled: the settled sum starts from them.
redis.call('HSETNX', KEYS[1], 'refund_settled', current[2])
redis.call('HSET', KEYS[1], 'refund_amount', ARGV[3], 'updated_at', ARGV[8])
for i = 9, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('HSET', KEYS[3], ARGV[4], 'PENDING')
redis.call('ZADD', KEYS[4], ARGV[7], ARGV[6])
return 1
