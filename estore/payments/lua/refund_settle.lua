-- Settle a refund whose money (and units, if it returns any) came back: COMPLETED, added to the
-- settled sum, the order PARTIALLY_REFUNDED or REFUNDED by that sum, out of the in-progress index.
-- A change of status bumps the order's version and goes to the events (for the indexer).
-- KEYS: 1 order hash, 2 refund states hash, 3 refunds in progress, 4 the bucket's order
--       events, 5-7 the user's orders PAID, PARTIALLY_REFUNDED, REFUNDED
-- ARGV: 1 refund id, 2 amount, 3 in-progress member, 4 order index member, 5 updated_at ms,
--       6 order id
-- Returns {1, status} when settled now, {0, state} when it was no longer in progress.
local state = redis.call('HGET', KEYS[2], ARGV[1])
if state ~= 'PENDING' and state ~= 'RETURNED' then
  redis.call('ZREM', KEYS[3], ARGV[3])
  return {0, state or ''}
end
local slot = {PAID = 0, PARTIALLY_REFUNDED = 1, REFUNDED = 2}
local old = redis.call('HGET', KEYS[1], 'status')
if not slot[old] then
  return {0, old or ''}
end
local settled = redis.call('HINCRBY', KEYS[1], 'refund_settled', ARGV[2])
local status = 'PARTIALLY_REFUNDED'
if settled >= tonumber(redis.call('HGET', KEYS[1], 'total')) then
  status = 'REFUNDED'
end
if old ~= status then
  redis.call('ZREM', KEYS[5 + slot[old]], ARGV[4])
  redis.call('ZADD', KEYS[5 + slot[status]], 0, ARGV[4])
  local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', 10000, '*', 'id', ARGV[6], 'v', version,
    's', status, 'm', ARGV[4])
end
redis.call('HSET', KEYS[1], 'status', status, 'updated_at', ARGV[5])
if redis.call('HGET', KEYS[1], 'restock_claim') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'restocked', '1')
end
redis.call('HSET', KEYS[2], ARGV[1], 'COMPLETED')
redis.call('ZREM', KEYS[3], ARGV[3])
return {1, status}
