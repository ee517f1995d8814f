-- The processor returned a refund's money: RETURNED, and if the refund asked to restock and no
-- refund of this order has claimed the restock yet, the order's units become this refund's to
-- return. From here on the refund cannot fail, so only a refund that succeeded restocks, once.
-- KEYS: 1 order hash, 2 refund states hash; ARGV: 1 refund id, 2 the units (JSON; '' none).
-- Returns {state, units}: RETURNED (or the later state it had reached) and the units it returns.
local state = redis.call('HGET', KEYS[2], ARGV[1])
if state ~= 'PENDING' then
  return {state or '', redis.call('HGET', KEYS[2], ARGV[1] .. ':units') or ''}
end
local units = ''
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'restocked') ~= '1'
    and (redis.call('HGET', KEYS[1], 'restock_claim') or '') == '' then
  units = ARGV[2]
  redis.call('HSET', KEYS[1], 'restock_claim', ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1] .. ':units', units)
end
redis.call('HSET', KEYS[2], ARGV[1], 'RETURNED')
return {'RETURNED', units}
