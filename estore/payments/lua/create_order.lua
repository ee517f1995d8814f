-- Write a new order and its index entries, unless an order with this id exists already, or
-- (for an order of several lines) its attempt was abandoned by recovery. An order written with
-- its card (a processing lease) goes in the status indexes only once its charge settles
-- (transition.lua): it is marked 'unlisted' until then.
-- Its event (version 1) goes to the bucket's stream, for the indexer of the admin listings.
-- KEYS: order hash, the bucket's order events, user's orders, user's orders by status,
--       processing (lease deadlines), expiring (unpaid order deadlines),
--       the attempt's intent hash, orders being created (lease index)
-- ARGV: index member, processing lease deadline ms ('' none), expiry ms ('' none),
--       '1' when an intent stands for this attempt ('' none), the order id, its status
--       ('' while unlisted), the fields as a JSON array of strings [field, value, ...] (one
--       argument rather than forty: the client packs each argument in Python, at a cost).
-- Returns 1 written, 0 an order with this id exists, -2 the attempt was abandoned.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local order_id = ARGV[5]
if ARGV[4] ~= '' then
  if redis.call('HGET', KEYS[7], 'state') ~= 'creating' then
    return -2
  end
  -- The order replaces its intent: recovery now follows the order itself.
  redis.call('DEL', KEYS[7])
  redis.call('ZREM', KEYS[8], order_id)
end
local fields = cjson.decode(ARGV[7])
fields[#fields + 1] = 'version'
fields[#fields + 1] = '1'
if ARGV[2] ~= '' then
  fields[#fields + 1] = 'unlisted'
  fields[#fields + 1] = '1'
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[3], 0, ARGV[1])
if ARGV[2] == '' then
  redis.call('ZADD', KEYS[4], 0, ARGV[1])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 10000, '*', 'id', order_id, 'v', 1, 's', ARGV[6],
  'm', ARGV[1])
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[5], ARGV[2], order_id)
end
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[6], ARGV[3], order_id)
end
return 1
