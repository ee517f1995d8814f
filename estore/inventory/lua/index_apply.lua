-- Apply bucket events to the global indexes and append them to the merged stream, each at most
-- once and never backwards: an event no newer than the last one applied for its product (the
-- bucket stream's ids grow, and a product stays in its bucket) changes nothing. Each event
-- carries the product's whole index entry, so the newest one alone leaves the indexes exact.
-- The entry ('ix', JSON) lists the product's filter sets as add_to_filters takes them, built by
-- store_products.py; they are in this script's slot, so it uses them as keys.
-- KEYS: 1 indexed (hash: product id -> "<event id>|<stock state>|<entry>"), 2 by created, 3 by
--   price, 4 by name, 5 by price (nm), 6-9 stock sets (in id, in nl, low id, low nl), 10 the
--   merged events, 11 category of each product, 12 category parents, 13 subtree counts.
-- ARGV: per event 11 values: event id, then type, product id, quantity, reserved, delta, reason,
--   at, ix ('' when none), min stock level, sync (unused here). Type REINDEX (the layout migration,
--   store_catalog_layout.py) indexes a product without appending an event.
-- Returns how many events were applied.
local function newer(a, b)
  local a_ms, a_seq = string.match(a, '(%d+)-(%d+)')
  local b_ms, b_seq = string.match(b, '(%d+)-(%d+)')
  a_ms, b_ms = tonumber(a_ms), tonumber(b_ms)
  return a_ms > b_ms or (a_ms == b_ms and tonumber(a_seq) > tonumber(b_seq))
end

local function keys_of(entry)
  local sets = {}
  for i, key in ipairs(entry.sets) do
    sets[i] = key
  end
  return sets
end

local function unindex(id, entry)
  local sets, n = keys_of(entry), entry.n
  for i = 1, n do
    redis.call('ZREM', sets[i], id)
    redis.call('ZREM', sets[i + n], id)
    redis.call('ZREM', sets[i + 2 * n], entry.member)
  end
  redis.call('ZREM', sets[3 * n + 1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], entry.member)
  redis.call('ZREM', KEYS[5], entry.member)
  redis.call('SREM', KEYS[6], id)
  redis.call('ZREM', KEYS[7], entry.member)
  redis.call('SREM', KEYS[8], id)
  redis.call('ZREM', KEYS[9], entry.member)
end

local function index(id, entry)
  local sets, n = keys_of(entry), entry.n
  for i = 1, n do
    redis.call('ZADD', sets[i], entry.created, id)
    redis.call('ZADD', sets[i + n], entry.price, id)
    redis.call('ZADD', sets[i + 2 * n], 0, entry.member)
  end
  redis.call('ZADD', sets[3 * n + 1], entry.created, id)
  redis.call('ZADD', KEYS[2], entry.created, id)
  redis.call('ZADD', KEYS[3], entry.price, id)
  redis.call('ZADD', KEYS[4], 0, entry.member)
  redis.call('ZADD', KEYS[5], entry.price, entry.member)
end

-- Put the product in, or out of, one stock set pair (id set, name set) when that changed
-- (was: '1' in, '0' out, '?' unknown).
local function file_stock(id_key, name_key, id, member, add, was)
  if (was == '1') == add and was ~= '?' then
    return
  end
  if add then
    redis.call('SADD', id_key, id)
    redis.call('ZADD', name_key, 0, member)
  else
    redis.call('SREM', id_key, id)
    redis.call('ZREM', name_key, member)
  end
end

local filing = {KEYS[11], KEYS[12], KEYS[13]}
-- Every product's record, read in one HMGET and written back in one HSET.
local ids, records, changed = {}, {}, {}
for a = 1, #ARGV, 11 do
  if records[ARGV[a + 2]] == nil then
    records[ARGV[a + 2]] = false
    ids[#ids + 1] = ARGV[a + 2]
  end
end
local found = redis.call('HMGET', KEYS[1], unpack(ids))
for i, id in ipairs(ids) do
  records[id] = found[i]
end
local applied = 0
for a = 1, #ARGV, 11 do
  local event_id, etype, id, quantity = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local ix, min_level = ARGV[a + 8], tonumber(ARGV[a + 9])
  local seen = records[id]
  local last, stock, old_ix = '0-0', '??', ''
  if seen then
    last, stock, old_ix = string.match(seen, '^([^|]*)|([^|]*)|(.*)$')
  end
  local is_newer = newer(event_id, last)
  if is_newer then
    if etype == 'PRODUCT_DELETED' then
      ix = ''
    elseif ix == '' then
      ix = old_ix -- a product written before index entries: its indexes stay as they are
    end
    local new_stock = '00'
    if ix ~= '' then
      new_stock = (quantity > 0 and '1' or '0') .. (quantity <= min_level and '1' or '0')
    end
    if ix ~= old_ix then
      if old_ix ~= '' then
        unindex(id, cjson.decode(old_ix))
      end
      stock = '00'
      if ix ~= '' then
        local entry = cjson.decode(ix)
        index(id, entry)
        file_product(filing, id, entry.category)
      else
        unfile_product(filing, id)
      end
    end
    if ix ~= '' then
      local member = cjson.decode(ix).member
      local was_in, was_low = string.sub(stock, 1, 1), string.sub(stock, 2, 2)
      file_stock(KEYS[6], KEYS[7], id, member, string.sub(new_stock, 1, 1) == '1', was_in)
      file_stock(KEYS[8], KEYS[9], id, member, string.sub(new_stock, 2, 2) == '1', was_low)
    end
    records[id] = event_id .. '|' .. new_stock .. '|' .. ix
    changed[id] = true
    applied = applied + 1
  end
  if etype ~= 'REINDEX' and is_newer then
    redis.call('XADD', KEYS[10], 'MAXLEN', '~', EVENT_MAXLEN, '*', 'type', etype,
      'product_id', id, 'quantity', ARGV[a + 3], 'reserved', ARGV[a + 4],
      'delta', ARGV[a + 5], 'reason', ARGV[a + 6], 'at', ARGV[a + 7])
  end
end
local updates = {}
for id in pairs(changed) do
  updates[#updates + 1] = id
  updates[#updates + 1] = records[id]
end
if #updates > 0 then
  redis.call('HSET', KEYS[1], unpack(updates))
end
return applied
