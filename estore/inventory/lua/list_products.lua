-- One page of ListProducts from the indexes, never building a set. Every filter set that can be
-- walked is a sorted set in the page's order (store_keys.py), so the page plans from sizes
-- (ZCARD, ZCOUNT: O(1) and O(log n)) which ordered source to walk from the cursor: the order
-- index, the smallest filter, the price bands of a price range (by created_at), or the
-- categories of a small subtree (merged in order). Each row read is tested against the other
-- filters. A price range by created_at that holds few products may instead be read whole and
-- ranked ('enumerate'). At most ARGV[14] rows are examined; a walk that runs out of them before
-- the page is full returns the rows found so far and a cursor at the last row it examined.
-- KEYS: 1 order index, 2 price index of the same flavour, 3 category of each product (by id),
--   4 category parents, then ARGV[10] filters every row must be in (ARGV[16] gives each one's
--   kind: 'z' a sorted set in the page's order, 's' a plain set of ids), then ARGV[11] category
--   sets whose union is the subtree of ARGV[12], then ARGV[15] price bands covering the range.
-- ARGV: 1 'score' | 'lex' (lex: every score is 0 and members sort by name), 2 'asc' | 'desc',
--   3 page size, 4 has cursor, 5 cursor score, 6 cursor member, 7 has price range,
--   8 min price ('-inf'), 9 max price ('+inf'), 10 number of filters, 11 number of subtree
--   sets, 12 subtree root category ('' for none), 13 products in that subtree, 14 row budget,
--   15 number of price bands, 16 filter kinds, 17 '1' when the order is by price.
-- Returns {more (0|1), cursor score, cursor member, plan, rows examined, member, member, ...}.
local order, prices, category_of, parents = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local lex, ascending, size = ARGV[1] == 'lex', ARGV[2] == 'asc', tonumber(ARGV[3])
local has_cursor, c_score, c_member = ARGV[4] == '1', ARGV[5], ARGV[6]
local has_price = ARGV[7] == '1'
local low = ARGV[8] == '-inf' and -math.huge or tonumber(ARGV[8])
local high = ARGV[9] == '+inf' and math.huge or tonumber(ARGV[9])
local n_sets, n_union = tonumber(ARGV[10]), tonumber(ARGV[11])
local root, subtree_size = ARGV[12], tonumber(ARGV[13])
local budget, n_bands, kinds = tonumber(ARGV[14]), tonumber(ARGV[15]), ARGV[16]
local by_price = ARGV[17] == '1' -- a price range is then a score range of every source
local CHUNK = 500 -- members per variadic command, far below Lua's unpack limit
local MAX_DEPTH = 1000 -- a walk up the category tree gives up beyond this depth (as _lib.lua)
local SOURCE_COST = 4 -- an extra source of a merge costs about this many walked rows
local ENUM_COST = 3 -- an enumerated member costs about this many walked rows (measured)
local examined = 0

-- Whether a < b byte by byte, as sorted sets order members (Lua's '<' follows the locale).
local function bytes_lt(a, b)
  if a == b then
    return false
  end
  local i, n = 1, math.min(#a, #b)
  while i + 15 <= n and a:sub(i, i + 15) == b:sub(i, i + 15) do
    i = i + 16
  end
  while i <= n do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then
      return x < y
    end
    i = i + 1
  end
  return #a < #b
end

-- Whether row a = {score, member} comes before row b in the page's direction.
local function before(a, b)
  if not lex and a[1] ~= b[1] then
    return (a[1] < b[1]) == ascending
  end
  if a[2] == b[2] then
    return false
  end
  return bytes_lt(a[2], b[2]) == ascending
end

local cursor_row = has_cursor and {tonumber(c_score) or 0, c_member} or nil

local memo = {} -- category -> whether it is in the subtree of root
-- Settle memo for every category of `categories`, walking up the tree one level per HMGET for
-- all of them at once (a row's subtree test then costs one table lookup).
local function settle(categories)
  local walking, at = {}, {} -- categories not settled yet; the node each has reached
  for _, category in ipairs(categories) do
    if category and memo[category] == nil and not at[category] then
      walking[#walking + 1], at[category] = category, category
    end
  end
  for _ = 1, MAX_DEPTH do
    local asking = {}
    for _, category in ipairs(walking) do
      local node = at[category]
      if node == root then
        memo[category] = true
      elseif not node or node == '' then
        memo[category] = false
      elseif memo[node] ~= nil then
        memo[category] = memo[node]
      else
        asking[#asking + 1] = category
      end
    end
    if #asking == 0 then
      return
    end
    local nodes, parent = {}, {}
    for _, category in ipairs(asking) do
      if not parent[at[category]] then
        nodes[#nodes + 1], parent[at[category]] = at[category], true
      end
    end
    local found = redis.call('HMGET', parents, unpack(nodes))
    examined = examined + #nodes
    for i, node in ipairs(nodes) do
      parent[node] = found[i]
    end
    for _, category in ipairs(asking) do
      at[category] = parent[at[category]]
    end
    walking = asking
  end
  for _, category in ipairs(walking) do -- deeper than MAX_DEPTH: corrupt data, not a match
    memo[category] = memo[category] or false
  end
end

local function product_id(member)
  if not lex then
    return member
  end
  return member:sub(member:find('\0', 1, true) + 1)
end

-- keep[i]: whether members[i] passes every filter except `skip` (a filter's KEYS index,
-- 'price' or 'subtree').
local function matching(members, skip)
  local keep = {}
  for i = 1, #members do
    keep[i] = true
  end
  for first = 1, #members, CHUNK do
    local last = math.min(#members, first + CHUNK - 1)
    for s = 5, 4 + n_sets do
      if s ~= skip then
        local zset = kinds:sub(s - 4, s - 4) == 'z'
        local found = redis.call(zset and 'ZMSCORE' or 'SMISMEMBER', KEYS[s],
          unpack(members, first, last))
        for i = first, last do
          local hit = found[i - first + 1]
          keep[i] = keep[i] and hit ~= false and hit ~= 0
        end
      end
    end
    if has_price and not by_price and skip ~= 'price' then
      local found = redis.call('ZMSCORE', prices, unpack(members, first, last))
      for i = first, last do
        local price = found[i - first + 1] and tonumber(found[i - first + 1])
        keep[i] = keep[i] and price and price >= low and price <= high
      end
    end
    if root ~= '' and skip ~= 'subtree' then
      local ids = {}
      for i = first, last do
        ids[#ids + 1] = product_id(members[i])
      end
      local categories = redis.call('HMGET', category_of, unpack(ids))
      settle(categories)
      for i = first, last do
        local category = categories[i - first + 1]
        keep[i] = keep[i] and category ~= false and memo[category] == true
      end
    end
  end
  return keep
end

local function reply(more, cursor, plan, rows)
  local out = {more, cursor and cursor[3] or '', cursor and cursor[2] or '', plan, examined}
  for i = 1, #rows do
    out[#out + 1] = rows[i][2]
  end
  return out
end

-- A source: one sorted set read in the page's order from the cursor, `m` rows per command.
-- Score ranges continue from the last score read, skipping the rows of that score seen so far.
local function open_source(key)
  local src = {key = key, buf = {}, pos = 1, done = false, seen = 0}
  if lex then
    src.from = has_cursor and ('(' .. c_member) or (ascending and '-' or '+')
    src.to = ascending and '+' or '-'
  else
    local near, far = ARGV[8], ARGV[9] -- the range of scores every row of this order is in
    if not by_price or not has_price then
      near, far = '-inf', '+inf'
    end
    if not ascending then
      near, far = far, near
    end
    src.from, src.to = has_cursor and c_score or near, far
    local c = cursor_row and cursor_row[1]
    if c and by_price and has_price and ((ascending and c < low) or (not ascending and c > high)) then
      src.from = near -- the cursor lies before the range (the range changed): start at its edge
    end
  end
  return src
end

local function fill(src, m)
  local got
  if lex and ascending then
    got = redis.call('ZRANGE', src.key, src.from, src.to, 'BYLEX', 'LIMIT', 0, m)
  elseif lex then
    got = redis.call('ZRANGE', src.key, src.from, src.to, 'BYLEX', 'REV', 'LIMIT', 0, m)
  elseif ascending then
    got = redis.call('ZRANGE', src.key, src.from, src.to, 'BYSCORE', 'LIMIT', src.seen, m,
      'WITHSCORES')
  else
    got = redis.call('ZRANGE', src.key, src.from, src.to, 'BYSCORE', 'REV', 'LIMIT', src.seen,
      m, 'WITHSCORES')
  end
  local buf, step = {}, lex and 1 or 2
  for i = 1, #got, step do
    local row = lex and {0, got[i], '0'} or {tonumber(got[i + 1]), got[i], got[i + 1]}
    if lex then
      src.from = '(' .. row[2]
    elseif row[3] == src.from then
      src.seen = src.seen + 1
    else
      src.from, src.seen = row[3], 1
    end
    if not cursor_row or before(cursor_row, row) then
      buf[#buf + 1] = row
    end
  end
  src.buf, src.pos, src.done = buf, 1, #got < m * step
end

-- The next row of a source (nil once it ends), reading `m` more rows when its buffer is empty.
local function head(src, m)
  while src.pos > #src.buf do
    if src.done then
      return nil
    end
    fill(src, m)
  end
  return src.buf[src.pos]
end

-- Up to `want` rows of the sources merged in the page's order (the sources never overlap),
-- through a binary heap of the sources by their next row, kept from one call to the next.
local heap = nil
local function sift_down(i)
  local n_heap = #heap
  while true do
    local least, l, r = i, 2 * i, 2 * i + 1
    if l <= n_heap and before(heap[l].buf[heap[l].pos], heap[least].buf[heap[least].pos]) then
      least = l
    end
    if r <= n_heap and before(heap[r].buf[heap[r].pos], heap[least].buf[heap[least].pos]) then
      least = r
    end
    if least == i then
      return
    end
    heap[i], heap[least] = heap[least], heap[i]
    i = least
  end
end
local function take(sources, want)
  local rows, m = {}, math.min(CHUNK, math.max(2, math.ceil(want / #sources) + 1))
  if not heap then
    heap = {}
    for _, src in ipairs(sources) do
      if head(src, m) then
        heap[#heap + 1] = src
      end
    end
    for i = math.floor(#heap / 2), 1, -1 do
      sift_down(i)
    end
  end
  while #rows < want and #heap > 0 do
    local src = heap[1]
    rows[#rows + 1], src.pos = src.buf[src.pos], src.pos + 1
    if not head(src, m) then
      heap[1] = heap[#heap]
      heap[#heap] = nil
    end
    if #heap > 0 then
      sift_down(1)
    end
  end
  return rows
end

-- Plan: how dense the filters are together (as if independent), and the ordered sources.
local n = redis.call('ZCARD', order)
local function count(key) -- rows of a sorted set this page may read
  if by_price and has_price then
    return redis.call('ZCOUNT', key, ARGV[8], ARGV[9])
  end
  return redis.call('ZCARD', key)
end
-- Rows the order allows: a price range's, when by price (else all n, not asked again).
local universe = (by_price and has_price) and count(order) or n
local density, empty = 1, universe == 0
local options = {{keys = {order}, rows = universe, name = 'walk order'}}
for s = 5, 4 + n_sets do
  local zset = kinds:sub(s - 4, s - 4) == 'z'
  local rows = zset and count(KEYS[s]) or redis.call('SCARD', KEYS[s])
  density = density * rows / math.max(zset and universe or n, 1)
  empty = empty or rows == 0
  if zset then
    options[#options + 1] = {keys = {KEYS[s]}, rows = rows, skip = s, name = 'walk filter'}
  end
end
local in_range = n
if has_price and not by_price then
  in_range = redis.call('ZCOUNT', prices, ARGV[8], ARGV[9])
  density = density * in_range / math.max(n, 1)
  empty = empty or in_range == 0
end
if root ~= '' then
  density = density * subtree_size / math.max(n, 1)
  empty = empty or subtree_size == 0
end
-- Sources that together hold every candidate: the subtree's categories (their sizes add up to
-- the subtree's count: not asked one by one, an empty one ends at its first read), or the
-- price bands.
local function union(first, count_of, skip, name, rows)
  local keys, total = {}, 0
  for s = first, first + count_of - 1 do
    local c = rows and 1 or count(KEYS[s])
    if c > 0 then
      keys[#keys + 1], total = KEYS[s], total + c
    end
  end
  if #keys > 0 then
    options[#options + 1] = {keys = keys, rows = rows or total, skip = skip, name = name}
  end
end
if n_union > 0 then
  union(5 + n_sets, n_union, 'subtree', 'merge subtree', subtree_size)
end
if n_bands > 0 then
  union(5 + n_sets + n_union, n_bands, nil, 'merge bands')
end
if empty then
  return reply(0, nil, 'empty', {})
end

local matches = math.max(density * universe, 1e-9) -- rows expected to match in all
local best, best_cost = nil, math.huge
for _, option in ipairs(options) do
  local walk = math.min(option.rows, (size + 1) * option.rows / matches) -- to fill a page
  local cost = walk + SOURCE_COST * (#option.keys - 1)
  if cost < best_cost then
    best, best_cost = option, cost
  end
end

-- A small price range by created_at: read it whole and rank it in the order.
if has_price and not by_price and not lex and in_range <= budget
  and in_range * ENUM_COST < best_cost then
  local members = redis.call('ZRANGE', prices, ARGV[8], ARGV[9], 'BYSCORE')
  examined = examined + #members
  local keep, ranked = matching(members, 'price'), {}
  for first = 1, #members, CHUNK do
    local last = math.min(#members, first + CHUNK - 1)
    local scores = redis.call('ZMSCORE', order, unpack(members, first, last))
    for i = first, last do
      local score = scores[i - first + 1]
      local row = score and {tonumber(score), members[i], score}
      if keep[i] and row and (not cursor_row or before(cursor_row, row)) then
        ranked[#ranked + 1] = row
      end
    end
  end
  table.sort(ranked, before)
  local rows = {}
  for i = 1, math.min(size, #ranked) do
    rows[i] = ranked[i]
  end
  return reply(#ranked > size and 1 or 0, #ranked > size and rows[size] or nil, 'enumerate', rows)
end

-- One source and nothing else to test (say, one tag, or no filter): every row it holds after
-- the cursor matches, so the page is its next rows, read without the merge and the tests.
local tested = n_sets - (best.skip and 1 or 0)
if #best.keys == 1 and tested == 0 and not (has_price and not by_price) and root == ''
  and size + 1 <= budget then
  local src, rows = open_source(best.keys[1]), {}
  while #rows <= size do
    local row = head(src, size + 1 - #rows + 1)
    if not row then
      break
    end
    rows[#rows + 1], src.pos = row, src.pos + 1
  end
  examined = examined + #rows
  if #rows > size then
    rows[#rows] = nil
    return reply(1, rows[size], best.name, rows)
  end
  return reply(0, nil, best.name, rows)
end

-- Walk the chosen sources from the cursor, a chunk of rows at a time.
local sources = {}
for i, key in ipairs(best.keys) do
  sources[i] = open_source(key)
end
local hits = math.min(1, matches / math.max(best.rows, 1)) -- the share of the source that matches
local rows, last, ended = {}, nil, false
while #rows <= size and examined < budget do
  local want = math.min(budget - examined, CHUNK, math.ceil((size + 1 - #rows) / hits) + 8)
  local got = take(sources, want)
  local members = {}
  for i = 1, #got do
    members[i] = got[i][2]
  end
  local keep, used = matching(members, best.skip), #got
  for i = 1, #got do
    if keep[i] then
      rows[#rows + 1] = got[i]
      if #rows > size then
        used = i
        break
      end
    end
  end
  examined = examined + used
  last = got[used] or last
  if #got < want and used == #got then
    ended = true
    break
  end
end
if #rows > size then
  rows[#rows] = nil
  return reply(1, rows[size], best.name, rows)
end
if not ended and last then -- out of budget, not of rows
  return reply(1, last, best.name, rows)
end
return reply(0, nil, best.name, rows)
