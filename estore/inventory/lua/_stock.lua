-- Holds on stock, shared by the single scripts and their batch forms (store_scripts.py puts this
-- file after _lib.lua in front of every script). Each takes its keys as arguments, so a batch
-- script runs one per entry, each entry on its own: a refused entry changes nothing.

-- Hold units of a product for a reservation: available -= q, reserved += q.
-- Idempotent on the reservation id: an existing reservation for the same product and quantity
-- is returned as it now is.
-- Returns {'OK', reservation} | {'EXISTING', reservation} | {'REUSED'} | {'NOT_FOUND'}
--   | {'INSUFFICIENT', available}.
local function reserve_hold(product_key, res_key, expiry, stream, product_id, res_id,
    quantity_text, now, expires_at)
  local quantity = tonumber(quantity_text)
  local held = redis.call('HMGET', res_key, 'product_id', 'quantity')
  if held[1] then
    if held[1] == product_id and tonumber(held[2]) == quantity then
      return {'EXISTING', redis.call('HGETALL', res_key)}
    end
    return {'REUSED'}
  end
  local s, p = read_stock(product_key, {'price_minor', 'discount_percentage'})
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
  move_stock(product_key, s, stream, -quantity, quantity, 0, 'reserve', now)
  local reservation = {'id', res_id, 'product_id', product_id, 'quantity', quantity_text,
    'unit_price_minor', int(unit_price), 'state', 'HELD', 'created_at', now,
    'expires_at', expires_at}
  redis.call('HSET', res_key, unpack(reservation))
  redis.call('ZADD', expiry, expires_at, res_id)
  return {'OK', reservation}
end

-- The reservation at res_key and its fields, when it exists and is of the product named ('' for
-- any); else nil, nil and the refusal to answer: {'NOT_FOUND'} | {'WRONG_PRODUCT'}.
local function named_reservation(res_key, named)
  local reservation, f = read_reservation(res_key)
  if not reservation then
    return nil, nil, {'NOT_FOUND'}
  end
  if named ~= '' and f[2] ~= named then
    return nil, nil, {'WRONG_PRODUCT'}
  end
  return reservation, f
end

-- Turn a held reservation into a sale: reserved -= q, sold += q. Committing again is a no-op.
-- A held reservation past its expiry expires here instead (its stock goes back).
-- named: the product id the caller named ('' if none: product_key is the reservation's own).
-- Returns {'OK' | 'RELEASED' | 'EXPIRED', reservation} | {'NOT_FOUND'} | {'WRONG_PRODUCT'}.
local function commit_hold(res_key, product_key, expiry, stream, now, keep_ms, named)
  local reservation, f, refused = named_reservation(res_key, named)
  if refused then
    return refused
  end
  local quantity = tonumber(f[3])
  if f[5] == 'HELD' and tonumber(f[7]) <= tonumber(now) then
    give_back(res_key, f[1], quantity, product_key, stream, expiry, 'EXPIRED', 'expire',
      now, keep_ms)
    reservation[STATE_AT] = 'EXPIRED'
    return {'EXPIRED', reservation}
  end
  if f[5] == 'HELD' then
    local s = read_stock(product_key)
    if s then
      move_stock(product_key, s, stream, 0, -quantity, quantity, 'commit', now)
    end
    redis.call('HSET', res_key, 'state', 'COMMITTED')
    redis.call('ZREM', expiry, f[1])
    redis.call('PEXPIRE', res_key, keep_ms)
    reservation[STATE_AT] = 'COMMITTED'
    return {'OK', reservation}
  end
  if f[5] == 'COMMITTED' then
    return {'OK', reservation}
  end
  return {f[5], reservation}
end

-- Give a held reservation's units back: reserved -= q, available += q. Releasing a released or
-- expired reservation is a no-op; a held one past its expiry becomes EXPIRED instead.
-- named: as commit_hold's.
-- Returns {'OK' | 'COMMITTED', reservation} | {'NOT_FOUND'} | {'WRONG_PRODUCT'}.
local function release_hold(res_key, product_key, expiry, stream, now, keep_ms, named)
  local reservation, f, refused = named_reservation(res_key, named)
  if refused then
    return refused
  end
  if f[5] == 'HELD' then
    local state, reason = 'RELEASED', 'release'
    if tonumber(f[7]) <= tonumber(now) then
      state, reason = 'EXPIRED', 'expire'
    end
    give_back(res_key, f[1], tonumber(f[3]), product_key, stream, expiry, state, reason,
      now, keep_ms)
    reservation[STATE_AT] = state
    return {'OK', reservation}
  end
  if f[5] == 'COMMITTED' then
    return {'COMMITTED', reservation}
  end
  return {'OK', reservation}
end

-- Run `hold` (commit_hold or release_hold) for every entry of a batch script: KEYS 1 expiry
-- index, 2 events, then per entry its reservation and its product; ARGV 1 now, 2 how long to
-- keep a final reservation (ms), then per entry the product id it named.
local function finish_each(hold)
  local replies = {}
  for i = 1, #ARGV - 2 do
    replies[i] = hold(KEYS[1 + 2 * i], KEYS[2 + 2 * i], KEYS[1], KEYS[2], ARGV[1], ARGV[2],
      ARGV[2 + i])
  end
  return replies
end
