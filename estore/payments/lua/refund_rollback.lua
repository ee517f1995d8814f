-- The processor refused a refund: FAILED, its amount (and its lines' units) taken out of what
-- is refunded again (so they can be refunded later), and out of the in-progress index. Only a
-- refund whose money never came back (PENDING) can fail.
-- KEYS: 1 order hash, 2 refund states hash, 3 refunds in progress
-- ARGV: 1 refund id, 2 amount, 3 in-progress member, 4 updated_at ms, then for a refund by
--       lines: field, units per line it counted (taken out of the `refunded:` counters again)
-- Returns 1 when rolled back now, 0 when the refund was not PENDING.
if redis.call('HGET', KEYS[2], ARGV[1]) ~= 'PENDING' then
  return 0
end
redis.call('HINCRBY', KEYS[1], 'refund_amount', '-' .. ARGV[2])
for i = 5, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], '-' .. ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], 'FAILED')
redis.call('ZREM', KEYS[3], ARGV[3])
return 1
