-- Hold units of a product for a reservation: available -= q, reserved += q, atomically.
-- Idempotent on the reservation id: an existing reservation for the same product and quantity
-- is returned as it now is.
-- KEYS: 1 product, 2 reservation, 3 expiry index, 4-7 stock sets, 8 events.
-- ARGV: 1 product id, 2 reservation id, 3 quantity, 4 now, 5 expires at.
-- Returns {'OK', reservation} | {'EXISTING', reservation} | {'REUSED'} | {'NOT_FOUND'}
--   | {'INSUFFICIENT', available}.
local quantity = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then
  local f = redis.call('HMGET', KEYS[2], 'product_id', 'quantity')
  if f[1] == ARGV[1] and tonumber(f[2]) == quantity then
    return {'EXISTING', redis.call('HGETALL', KEYS[2])}
  end
  return {'REUSED'}
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'NOT_FOUND'}
end
local p = redis.call('HMGET', KEYS[1], 'quantity', 'price_minor', 'discount_percentage')
local available = tonumber(p[1])
if available < quantity then
  return {'INSUFFICIENT', int(available)}
end
-- The effective price, half-up: exact because price * 100 stays far below 2^53.
local scaled = tonumber(p[2]) * (100 - tonumber(p[3]))
local unit_price = math.floor(scaled / 100)
local rest = scaled - unit_price * 100
if rest < 0 then
  unit_price, rest = unit_price - 1, rest + 100
elseif rest >= 100 then
  unit_price, rest = unit_price + 1, rest - 100
end
if rest * 2 >= 100 then
  unit_price = unit_price + 1
end
redis.call('HINCRBY', KEYS[1], 'quantity', -quantity)
redis.call('HINCRBY', KEYS[1], 'reserved', quantity)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4])
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'product_id', ARGV[1], 'quantity', ARGV[3],
  'unit_price_minor', int(unit_price), 'state', 'HELD', 'created_at', ARGV[4],
  'expires_at', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2])
stock_changed(KEYS[1], {KEYS[4], KEYS[5], KEYS[6], KEYS[7]}, KEYS[8], -quantity, 'reserve',
  ARGV[4])
return {'OK', redis.call('HGETALL', KEYS[2])}
