-- Helpers shared by the inventory scripts; store_scripts.py puts this file in front of each script
-- that uses them (list_products.lua uses none).
-- Every key a script touches arrives in KEYS; the helpers only take keys from their callers.

local EVENT_MAXLEN = '10000'

-- An integer as Redis text (never in exponent notation).
local function int(n)
  return string.format('%d', n)
end

-- The events this script appended to its bucket's stream, each {id, fields}: the script returns
-- them (store_scripts.py wraps it) so that its caller applies them to the indexes at once.
local EMITTED = {}
local CAUGHT_UP = {}
-- How far back a synced event looks for its product's unsynced events (see emit).
local CATCH_UP = 200

-- Before a product's first synced event of this script: its unsynced events among the bucket's
-- last CATCH_UP (those the indexer may not have applied yet), so that its caller applies them
-- first, in order (index_apply.lua applies each at most once, whoever comes first).
local function catch_up(stream, product_id)
  if CAUGHT_UP[product_id] then
    return
  end
  CAUGHT_UP[product_id] = true
  local recent = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', CATCH_UP)
  for i = #recent, 1, -1 do
    local fields = recent[i][2]
    if fields[4] == product_id and fields[20] == '0' then
      EMITTED[#EMITTED + 1] = recent[i]
    end
  end
end

-- Append an event to the bucket's capped stream, with what the indexes need: the product's
-- index entry ('ix', '' once deleted) and stock threshold (ix and min, as its caller read
-- them). sync '0' (default '1'): the event changes no listing (the product stays in and out of
-- the same stock sets), so its caller leaves it to the indexer (or to the product's next synced
-- event). Returns its id.
local function emit(stream, etype, product_id, quantity, reserved, delta, reason, now, ix, min,
    sync)
  sync = sync or '1'
  if sync == '1' then
    catch_up(stream, product_id)
  end
  local fields = {'type', etype, 'product_id', product_id, 'quantity', quantity,
    'reserved', reserved, 'delta', delta, 'reason', reason, 'at', now, 'ix', ix or '',
    'min', min or '0', 'sync', sync}
  local id = redis.call('XADD', stream, 'MAXLEN', '~', EVENT_MAXLEN, '*', unpack(fields))
  EMITTED[#EMITTED + 1] = {id, fields}
  return id
end

-- Record a change of available (delta) stock: a STOCK_CHANGED event, and a LOW_STOCK event
-- when the available quantity is now at or below the threshold.
local function stock_changed(product_key, stream, delta, reason, now)
  local f = redis.call('HMGET', product_key, 'id', 'quantity', 'reserved', 'min_stock_level',
    'ix')
  emit(stream, 'STOCK_CHANGED', f[1], f[2], f[3], int(delta), reason, now, f[5], f[4])
  if delta ~= 0 and tonumber(f[2]) <= tonumber(f[4]) then
    emit(stream, 'LOW_STOCK', f[1], f[2], f[3], '0', reason, now, f[5], f[4])
  end
end

-- A product's stock counters as a table, in one HMGET that also reads the `extra` fields (the
-- raw reply, f, holds them after the counters); nil (and f) when there is no such product.
local STOCK_FIELDS = {'id', 'sort_key', 'quantity', 'reserved', 'sold', 'min_stock_level', 'ix'}
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
    sold = tonumber(f[5]) or 0, min_level = tonumber(f[6]) or 0, ix = f[7] or ''}, f
end

-- Move a product's units between available, reserved and sold (s from read_stock) in one HSET,
-- then the STOCK_CHANGED event, and LOW_STOCK as stock_changed; they are synced at once only
-- when the product moves between stock sets (see emit).
local function move_stock(product_key, s, stream, d_available, d_reserved, d_sold, reason, now)
  local before = s.quantity
  s.quantity, s.reserved, s.sold = s.quantity + d_available, s.reserved + d_reserved,
    s.sold + d_sold
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
  local quantity, reserved = int(s.quantity), int(s.reserved)
  local moved = (before > 0) ~= (s.quantity > 0) or
    (before <= s.min_level) ~= (s.quantity <= s.min_level)
  local sync = moved and '1' or '0'
  local min = int(s.min_level)
  emit(stream, 'STOCK_CHANGED', s.id, quantity, reserved, int(d_available), reason, now, s.ix,
    min, sync)
  if d_available ~= 0 and s.quantity <= s.min_level then
    emit(stream, 'LOW_STOCK', s.id, quantity, reserved, '0', reason, now, s.ix, min, sync)
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
local function give_back(res_key, res_id, quantity, product_key, stream, expiry, state,
    reason, now, keep_ms)
  local s = read_stock(product_key)
  if s then
    move_stock(product_key, s, stream, quantity, -quantity, 0, reason, now)
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
