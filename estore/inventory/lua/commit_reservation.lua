-- Turn a held reservation into a sale: reserved -= q, sold += q. Committing again is a no-op.
-- A held reservation past its expiry expires here instead (its stock goes back).
-- KEYS: 1 reservation, 2 product, 3 expiry index, 4-7 stock sets, 8 events.
-- ARGV: 1 now, 2 how long to keep a final reservation (ms), 3 the product id the caller named
--       ('' if none: KEYS[2] is then the reservation's own product).
-- Returns {'OK' | 'RELEASED' | 'EXPIRED', reservation} | {'NOT_FOUND'} | {'WRONG_PRODUCT'}.
local reservation, f = read_reservation(KEYS[1])
if not reservation then
  return {'NOT_FOUND'}
end
if ARGV[3] ~= '' and f[2] ~= ARGV[3] then
  return {'WRONG_PRODUCT'}
end
local sets = {KEYS[4], KEYS[5], KEYS[6], KEYS[7]}
local quantity = tonumber(f[3])
if f[5] == 'HELD' and tonumber(f[7]) <= tonumber(ARGV[1]) then
  give_back(KEYS[1], f[1], quantity, KEYS[2], sets, KEYS[8], KEYS[3], 'EXPIRED', 'expire',
    ARGV[1], ARGV[2])
  reservation[STATE_AT] = 'EXPIRED'
  return {'EXPIRED', reservation}
end
if f[5] == 'HELD' then
  local s = read_stock(KEYS[2])
  if s then
    move_stock(KEYS[2], s, sets, KEYS[8], 0, -quantity, quantity, 'commit', ARGV[1])
  end
  redis.call('HSET', KEYS[1], 'state', 'COMMITTED')
  redis.call('ZREM', KEYS[3], f[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  reservation[STATE_AT] = 'COMMITTED'
  return {'OK', reservation}
end
if f[5] == 'COMMITTED' then
  return {'OK', reservation}
end
return {f[5], reservation}
