-- One page of ListProducts from the indexes, never building a set. A name-ordered page walks
-- the smallest of the name index and the filters (all sorted by name) from the cursor. Other
-- orders plan from the filters' sizes (SCARD, ZCOUNT: O(1) and O(log n)), and either
--   'walk': read the order index from the cursor and test each row against every filter, or
--   'enumerate': read the smallest filter whole, then test and rank its members in the order.
-- Either way at most ARGV[14] rows are examined; a walk that runs out of them before the page
-- is full returns the rows found so far and a cursor at the last row it examined.
-- KEYS: 1 order index, 2 price index of the same flavour, 3 category of each product (by id),
--   4 category parents, then ARGV[10] filters every row must be in (sets of ids, or sorted sets
--   of name members for 'lex'), then ARGV[11] sets whose union is the subtree of ARGV[12]
--   (given only when the subtree is small enough to read, and never for 'lex').
-- ARGV: 1 'score' | 'lex' (lex: every score is 0 and members sort by name), 2 'asc' | 'desc',
--   3 page size, 4 has cursor, 5 cursor score, 6 cursor member, 7 has price range,
--   8 min price ('-inf'), 9 max price ('+inf'), 10 number of filters, 11 number of subtree
--   sets, 12 subtree root category ('' for none), 13 products in that subtree, 14 row budget,
--   15 '1' when the order index is the price index (a price range is then a range of ranks).
-- Returns {more (0|1), cursor score, cursor member, plan, rows examined, member, member, ...}.
local order, prices, category_of, parents = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local lex, ascending, size = ARGV[1] == 'lex', ARGV[2] == 'asc', tonumber(ARGV[3])
local has_cursor, c_score, c_member = ARGV[4] == '1', ARGV[5], ARGV[6]
local has_price = ARGV[7] == '1'
local low = ARGV[8] == '-inf' and -math.huge or tonumber(ARGV[8])
local high = ARGV[9] == '+inf' and math.huge or tonumber(ARGV[9])
local n_sets, n_union = tonumber(ARGV[10]), tonumber(ARGV[11])
local root, subtree_size = ARGV[12], tonumber(ARGV[13])
local budget, by_price = tonumber(ARGV[14]), ARGV[15] == '1'
local CHUNK = 500 -- members per variadic command, far below Lua's unpack limit
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

-- The cursor's place in a score-ordered index: rows sorting before it, and 1 if it is there.
local function cursor_place()
  local score = redis.call('ZSCORE', order, c_member)
  if score and tonumber(score) == tonumber(c_score) then
    return redis.call('ZRANK', order, c_member), 1
  end
  -- The cursor's row left or moved: binary search its score's ties for where it would be.
  local lo = redis.call('ZCOUNT', order, '-inf', '(' .. c_score)
  local hi = redis.call('ZCOUNT', order, '-inf', c_score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if bytes_lt(redis.call('ZRANGE', order, mid, mid)[1], c_member) then
      lo = mid + 1
    else
      hi = mid
    end
  end
  return lo, 0
end

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

-- keep[i]: whether members[i] passes every filter except `skip` ('price', 'subtree' or a set).
local function matching(members, skip)
  local keep = {}
  for i = 1, #members do
    keep[i] = true
  end
  for first = 1, #members, CHUNK do
    local last = math.min(#members, first + CHUNK - 1)
    for s = 5, 4 + n_sets do
      if s ~= skip and lex then -- name members' filters are sorted sets
        local found = redis.call('ZMSCORE', KEYS[s], unpack(members, first, last))
        for i = first, last do
          keep[i] = keep[i] and found[i - first + 1] ~= false
        end
      elseif s ~= skip then
        local found = redis.call('SMISMEMBER', KEYS[s], unpack(members, first, last))
        for i = first, last do
          keep[i] = keep[i] and found[i - first + 1] == 1
        end
      end
    end
    if has_price and not by_price and skip ~= 'price' then -- by price: a range of ranks
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

local function reply(more, cursor_score, cursor_member, plan, rows)
  local out = {more, cursor_score, cursor_member, plan, examined}
  for i = 1, #rows do
    out[#out + 1] = rows[i]
  end
  return out
end

-- By name: walk the smallest of the name index and the filters, from the cursor, by name.
local function name_page()
  local n = redis.call('ZCARD', order)
  local source, skip, smallest, density = order, nil, n, 1
  for s = 5, 4 + n_sets do
    local count = redis.call('ZCARD', KEYS[s])
    density = density * count / math.max(n, 1)
    if count < smallest then
      source, skip, smallest = KEYS[s], s, count
    end
  end
  if smallest == 0 then
    return reply(0, '', '', 'empty', {})
  end
  if has_price then
    density = density * redis.call('ZCOUNT', prices, ARGV[8], ARGV[9]) / n
  end
  if root ~= '' then
    density = density * subtree_size / n
  end
  local hits = math.max(density * n / smallest, 1e-9) -- the share of the source that matches
  local rows, last, ended = {}, nil, false
  local after = has_cursor and ('(' .. c_member) or (ascending and '-' or '+')
  while #rows <= size and examined < budget do
    local want = math.min(budget - examined, CHUNK, math.ceil((size + 1 - #rows) / hits) + 8)
    local got
    if ascending then
      got = redis.call('ZRANGE', source, after, '+', 'BYLEX', 'LIMIT', 0, want)
    else
      got = redis.call('ZRANGE', source, after, '-', 'BYLEX', 'REV', 'LIMIT', 0, want)
    end
    local keep, used = matching(got, skip), #got
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
    if used > 0 then
      last = got[used]
      after = '(' .. last
    end
    if #got < want and used == #got then
      ended = true
      break
    end
  end
  if #rows > size then
    rows[#rows] = nil
    return reply(1, '0', rows[size], 'walk', rows)
  end
  if not ended and last then -- out of budget, not of rows
    return reply(1, '0', last, 'walk', rows)
  end
  return reply(0, '', '', 'walk', rows)
end
if lex then
  return name_page()
end

local n = redis.call('ZCARD', order)
local first_rank, last_rank = 0, n - 1 -- the rows the order itself allows
if by_price and has_price then
  first_rank = low == -math.huge and 0 or redis.call('ZCOUNT', order, '-inf', '(' .. ARGV[8])
  last_rank = redis.call('ZCOUNT', order, '-inf', ARGV[9]) - 1
end
local start -- the rank of the first row after the cursor, in the page's direction
if ascending then
  start = first_rank
  if has_cursor then
    local before, at = cursor_place()
    start = math.max(start, before + at)
  end
else
  start = last_rank
  if has_cursor then
    start = math.min(start, (cursor_place()) - 1)
  end
end

-- Plan: how dense the filters are together (as if independent), and the smallest one.
local density, smallest, smallest_size = 1, nil, math.huge
local function consider(driver, count)
  density = density * count / math.max(n, 1)
  if count < smallest_size then
    smallest, smallest_size = driver, count
  end
end
for s = 5, 4 + n_sets do
  consider(s, redis.call('SCARD', KEYS[s]))
end
if has_price and not by_price then
  consider('price', redis.call('ZCOUNT', prices, ARGV[8], ARGV[9]))
end
if root ~= '' then
  density = density * subtree_size / math.max(n, 1)
  if n_union > 0 and subtree_size < smallest_size then
    smallest, smallest_size = 'subtree', subtree_size
  end
end
if n == 0 or smallest_size == 0 or start < first_rank or start > last_rank then
  return reply(0, '', '', 'empty', {})
end
local walk_rows = math.min(budget, (size + 1) / math.max(density, 1e-9), last_rank - first_rank + 1)

local function score_of(member)
  return redis.call('ZSCORE', order, member)
end

if smallest and smallest_size <= budget and smallest_size * ENUM_COST <= walk_rows then
  local members
  if smallest == 'price' then
    members = redis.call('ZRANGE', prices, ARGV[8], ARGV[9], 'BYSCORE')
  elseif smallest == 'subtree' then
    members = {}
    for s = 5 + n_sets, 4 + n_sets + n_union do
      for _, member in ipairs(redis.call('SMEMBERS', KEYS[s])) do
        members[#members + 1] = member
      end
    end
  else
    members = redis.call('SMEMBERS', KEYS[smallest])
  end
  examined = examined + #members
  local keep, ranked = matching(members, smallest), {}
  for i = 1, #members do
    if keep[i] then
      local rank = redis.call('ZRANK', order, members[i])
      if rank and rank >= first_rank and rank <= last_rank
        and ((ascending and rank >= start) or (not ascending and rank <= start)) then
        ranked[#ranked + 1] = {rank, members[i]}
      end
    end
  end
  table.sort(ranked, function(a, b)
    if ascending then
      return a[1] < b[1]
    end
    return a[1] > b[1]
  end)
  local rows = {}
  for i = 1, math.min(size, #ranked) do
    rows[i] = ranked[i][2]
  end
  if #ranked > size then
    return reply(1, score_of(rows[size]), rows[size], 'enumerate', rows)
  end
  return reply(0, '', '', 'enumerate', rows)
end

-- Walk the order index from the cursor, a chunk of rows at a time.
local rows, pos, last_member = {}, start, nil
while #rows <= size and examined < budget and pos >= first_rank and pos <= last_rank do
  local need = size + 1 - #rows
  local want = math.min(budget - examined, CHUNK, math.ceil(need / math.max(density, 1e-9)) + 8)
  local a, b = pos, math.min(last_rank, pos + want - 1)
  if not ascending then
    a, b = math.max(first_rank, pos - want + 1), pos
  end
  local members = redis.call('ZRANGE', order, a, b)
  if not ascending then
    local n_got = #members
    for i = 1, math.floor(n_got / 2) do
      members[i], members[n_got + 1 - i] = members[n_got + 1 - i], members[i]
    end
  end
  local keep = matching(members, nil)
  local used = #members
  for i = 1, #members do
    if keep[i] then
      rows[#rows + 1] = members[i]
      if #rows > size then
        used = i
        break
      end
    end
  end
  examined = examined + used
  last_member = members[used]
  pos = ascending and pos + used or pos - used
end
if #rows > size then
  rows[#rows] = nil
  return reply(1, score_of(rows[size]), rows[size], 'walk', rows)
end
if pos >= first_rank and pos <= last_rank and last_member then -- out of budget, not of rows
  return reply(1, score_of(last_member), last_member, 'walk', rows)
end
return reply(0, '', '', 'walk', rows)
