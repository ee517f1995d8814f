-- Give a held reservation's units back: reserved -= q, available += q. Releasing a released or
-- expired reservation is a no-op; a held one past its expiry becomes EXPIRED instead.
-- KEYS: 1 reservation, 2 product, 3 expiry index, 4-7 stock sets, 8 events.
-- ARGV: 1 now, 2 how long to keep a final reservation (ms), 3 the product id the caller named
--       ('' if none: KEYS[2] is then the reservation's own product).
-- Returns {'OK' | 'COMMITTED', reservation} | {'NOT_FOUND'} | {'WRONG_PRODUCT'}.
local reservation, f = read_reservation(KEYS[1])
if not reservation then
  return {'NOT_FOUND'}
end
if ARGV[3] ~= '' and f[2] ~= ARGV[3] then
  return {'WRONG_PRODUCT'}
end
if f[5] == 'HELD' then
  local state, reason = 'RELEASED', 'release'
  if tonumber(f[7]) <= tonumber(ARGV[1]) then
    state, reason = 'EXPIRED', 'expire'
  end
  give_back(KEYS[1], f[1], tonumber(f[3]), KEYS[2], {KEYS[4], KEYS[5], KEYS[6], KEYS[7]},
    KEYS[8], KEYS[3], state, reason, ARGV[1], ARGV[2])
  reservation[STATE_AT] = state
  return {'OK', reservation}
end
if f[5] == 'COMMITTED' then
  return {'COMMITTED', reservation}
end
return {'OK', reservation}
