-- Helpers shared by the inventory scripts; store_scripts.py puts this file in front of each script
-- that uses them (list_products.lua uses none).
-- Every key a script touches arrives in KEYS; the helpers only take keys from their callers.

local EVENT_MAXLEN = '10000'

-- An integer as Redis text (never in exponent notation).
local function int(n)
  return string.format('%d', n)
end

-- Append an event to the capped stream; returns its id.
local function emit(stream, etype, product_id, quantity, reserved, delta, reason, now)
  return redis.call('XADD', stream, 'MAXLEN', '~', EVENT_MAXLEN, '*',
    'type', etype, 'product_id', product_id, 'quantity', quantity, 'reserved', reserved,
    'delta', delta, 'reason', reason, 'at', now)
end

-- Put the product in, or take it out of, the in-stock and low-stock sets (both flavours; the
-- name flavour's are sorted sets at score 0, see store_keys.py).
-- sets = {in_stock id, in_stock nl, low_stock id, low_stock nl}.
local function index_stock(product_key, sets)
  local f = redis.call('HMGET', product_key, 'id', 'sort_key', 'quantity', 'min_stock_level')
  local id, member, quantity, min_level = f[1], f[2], tonumber(f[3]), tonumber(f[4])
  if quantity > 0 then
    redis.call('SADD', sets[1], id)
    redis.call('ZADD', sets[2], 0, member)
  else
    redis.call('SREM', sets[1], id)
    redis.call('ZREM', sets[2], member)
  end
  if quantity <= min_level then
    redis.call('SADD', sets[3], id)
    redis.call('ZADD', sets[4], 0, member)
  else
    redis.call('SREM', sets[3], id)
    redis.call('ZREM', sets[4], member)
  end
end

-- Record a change of available (delta) or reserved stock: a STOCK_CHANGED event, and a
-- LOW_STOCK event when the available quantity changed and is now at or below the threshold.
local function stock_changed(product_key, sets, stream, delta, reason, now)
  index_stock(product_key, sets)
  local f = redis.call('HMGET', product_key, 'id', 'quantity', 'reserved', 'min_stock_level')
  emit(stream, 'STOCK_CHANGED', f[1], f[2], f[3], int(delta), reason, now)
  if delta ~= 0 and tonumber(f[2]) <= tonumber(f[4]) then
    emit(stream, 'LOW_STOCK', f[1], f[2], f[3], '0', reason, now)
  end
end

-- A product's stock counters as a table, in one HMGET that also reads the `extra` fields (the
-- raw reply, f, holds them after the counters); nil (and f) when there is no such product.
local STOCK_FIELDS = {'id', 'sort_key', 'quantity', 'reserved', 'sold', 'min_stock_level'}
local function read_stock(product_key, extra)
  local names = {unpack(STOCK_FIELDS)}
  for _, name in ipairs(extra or {}) do
    names[#names + 1] = name
  end
  local f = redis.call('HMGET', product_key, unpack(names))
  if not f[1] then
    return nil, f
  end
  return {id = f[1], member = f[2], quantity = tonumber(f[3]), reserved = tonumber(f[4]) or 0,
    sold = tonumber(f[5]) or 0, min_level = tonumber(f[6]) or 0}, f
end

-- Put a product in (add true) or take it out of one id set and one name set.
local function file_stock(id_set, name_set, s, add)
  if add then
    redis.call('SADD', id_set, s.id)
    redis.call('ZADD', name_set, 0, s.member)
  else
    redis.call('SREM', id_set, s.id)
    redis.call('ZREM', name_set, s.member)
  end
end

-- Move a product's units between available, reserved and sold (s from read_stock) in one HSET.
-- The stock sets are exact before every change (each script keeps them so), so only a set whose
-- membership changes is touched. Then the STOCK_CHANGED event, and LOW_STOCK as stock_changed.
local function move_stock(product_key, s, sets, stream, d_available, d_reserved, d_sold, reason,
    now)
  local before = s.quantity
  s.quantity, s.reserved, s.sold = before + d_available, s.reserved + d_reserved, s.sold + d_sold
  local args = {'reserved', int(s.reserved), 'updated_at', now}
  if d_available ~= 0 then
    table.insert(args, 'quantity')
    table.insert(args, int(s.quantity))
  end
  if d_sold ~= 0 then
    table.insert(args, 'sold')
    table.insert(args, int(s.sold))
  end
  redis.call('HSET', product_key, unpack(args))
  if (before > 0) ~= (s.quantity > 0) then
    file_stock(sets[1], sets[2], s, s.quantity > 0)
  end
  if (before <= s.min_level) ~= (s.quantity <= s.min_level) then
    file_stock(sets[3], sets[4], s, s.quantity <= s.min_level)
  end
  local quantity, reserved = int(s.quantity), int(s.reserved)
  emit(stream, 'STOCK_CHANGED', s.id, quantity, reserved, int(d_available), reason, now)
  if d_available ~= 0 and s.quantity <= s.min_level then
    emit(stream, 'LOW_STOCK', s.id, quantity, reserved, '0', reason, now)
  end
end

-- A reservation's fields as HGETALL lists them (state at index STATE_AT), and the raw HMGET
-- reply (id, product_id, quantity, unit_price_minor, state, created_at, expires_at); nil if none.
local RESERVATION_FIELDS = {'id', 'product_id', 'quantity', 'unit_price_minor', 'state',
  'created_at', 'expires_at'}
local STATE_AT = 10
local function read_reservation(res_key)
  local f = redis.call('HMGET', res_key, unpack(RESERVATION_FIELDS))
  if not f[1] then
    return nil, f
  end
  local flat = {}
  for i, name in ipairs(RESERVATION_FIELDS) do
    flat[2 * i - 1] = name
    flat[2 * i] = f[i]
  end
  return flat, f
end

-- Give a held reservation's units (id res_id, quantity units) back to available stock and mark
-- it final.
local function give_back(res_key, res_id, quantity, product_key, sets, stream, expiry, state,
    reason, now, keep_ms)
  local s = read_stock(product_key)
  if s then
    move_stock(product_key, s, sets, stream, quantity, -quantity, 0, reason, now)
  end
  redis.call('HSET', res_key, 'state', state)
  redis.call('ZREM', expiry, res_id)
  redis.call('PEXPIRE', res_key, keep_ms)
end

-- HSET every field of a JSON object of strings, in one command.
local function hset_json(key, json)
  local args = {}
  for name, value in pairs(cjson.decode(json)) do
    args[#args + 1] = name
    args[#args + 1] = value
  end
  if #args > 0 then
    redis.call('HSET', key, unpack(args))
  end
end

-- Put a product in its filter sets: KEYS[first..] holds its n sets by created_at, then the same
-- n by price, then the same n by name (sorted sets, see store_keys.py), then its price band.
local function add_to_filters(first, n, id, member, created, price)
  for i = first, first + n - 1 do
    redis.call('ZADD', KEYS[i], created, id)
    redis.call('ZADD', KEYS[i + n], price, id)
    redis.call('ZADD', KEYS[i + 2 * n], 0, member)
  end
  redis.call('ZADD', KEYS[first + 3 * n], created, id)
end

-- Take a product out of its filter sets, laid out in KEYS as for add_to_filters.
local function remove_from_filters(first, n, id, member)
  for i = first, first + n - 1 do
    redis.call('ZREM', KEYS[i], id)
    redis.call('ZREM', KEYS[i + n], id)
    redis.call('ZREM', KEYS[i + 2 * n], member)
  end
  redis.call('ZREM', KEYS[first + 3 * n], id)
end

-- A walk up the category tree gives up beyond this depth (a guard against corrupt data).
local MAX_DEPTH = 1000

-- Add delta to the product count of a category's subtree and of every ancestor's.
-- parents: hash category -> parent id; counts: hash category -> products at or below it.
local function count_in_subtrees(parents, counts, category, delta)
  local depth = 0
  while category and category ~= '' and depth < MAX_DEPTH do
    if redis.call('HINCRBY', counts, category, delta) == 0 then
      redis.call('HDEL', counts, category)
    end
    category = redis.call('HGET', parents, category)
    depth = depth + 1
  end
end

-- File a product under a category ('' for none) for subtree listings and their counts.
-- filing = {category_of hash, parents hash, subtree counts hash}.
local function file_product(filing, id, category)
  local old = redis.call('HGET', filing[1], id)
  if old == category then
    return
  end
  if old then -- false: not filed yet (data from before the re-index)
    count_in_subtrees(filing[2], filing[3], old, -1)
  end
  redis.call('HSET', filing[1], id, category)
  count_in_subtrees(filing[2], filing[3], category, 1)
end

-- Take a product out of the subtree filing (deleting it).
local function unfile_product(filing, id)
  local old = redis.call('HGET', filing[1], id)
  if old then
    count_in_subtrees(filing[2], filing[3], old, -1)
    redis.call('HDEL', filing[1], id)
  end
end
