-- Write a new order and its index entries, unless an order with this id exists already.
-- KEYS: order hash, all orders, orders by status, user's orders, user's orders by status,
--       processing (lease deadlines), expiring (unpaid order deadlines)
-- ARGV: index member, processing lease deadline ms ('' none), expiry ms ('' none), field/value...
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
for i = 2, 5 do
  redis.call('ZADD', KEYS[i], 0, ARGV[1])
end
local order_id = redis.call('HGET', KEYS[1], 'id')
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[6], ARGV[2], order_id)
end
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[7], ARGV[3], order_id)
end
return 1
