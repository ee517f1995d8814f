-- Hold units of a product for a reservation: available -= q, reserved += q, atomically.
-- Idempotent on the reservation id: an existing reservation for the same product and quantity
-- is returned as it now is.
-- KEYS: 1 product, 2 reservation, 3 expiry index, 4-7 stock sets, 8 events.
-- ARGV: 1 product id, 2 reservation id, 3 quantity, 4 now, 5 expires at.
-- Returns {'OK', reservation} | {'EXISTING', reservation} | {'REUSED'} | {'NOT_FOUND'}
--   | {'INSUFFICIENT', available}.
local quantity = tonumber(ARGV[3])
local held = redis.call('HMGET', KEYS[2], 'product_id', 'quantity')
if held[1] then
  if held[1] == ARGV[1] and tonumber(held[2]) == quantity then
    return {'EXISTING', redis.call('HGETALL', KEYS[2])}
  end
  return {'REUSED'}
end
local s, p = read_stock(KEYS[1], {'price_minor', 'discount_percentage'})
if not s then
  return {'NOT_FOUND'}
end
if s.quantity < quantity then
  return {'INSUFFICIENT', int(s.quantity)}
end
-- The effective price, half-up: exact because price * 100 stays far below 2^53.
local scaled = tonumber(p[#STOCK_FIELDS + 1]) * (100 - tonumber(p[#STOCK_FIELDS + 2]))
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
move_stock(KEYS[1], s, {KEYS[4], KEYS[5], KEYS[6], KEYS[7]}, KEYS[8], -quantity, quantity, 0,
  'reserve', ARGV[4])
local reservation = {'id', ARGV[2], 'product_id', ARGV[1], 'quantity', ARGV[3],
  'unit_price_minor', int(unit_price), 'state', 'HELD', 'created_at', ARGV[4],
  'expires_at', ARGV[5]}
redis.call('HSET', KEYS[2], unpack(reservation))
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2])
return {'OK', reservation}
