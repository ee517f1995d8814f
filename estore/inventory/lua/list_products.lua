-- One page of ListProducts, answered from the indexes: intersect the filters with the order
-- index into a temporary sorted set, then read the page after the cursor.
-- KEYS: 1 order index, 2 price index of the same flavour, 3-5 temporary keys (deleted here),
--   then ARGV[10] category sets (unioned), then the sets every product must be in.
-- ARGV: 1 'score' | 'lex' (lex: every score is 0 and members sort by name), 2 'asc' | 'desc',
--   3 page size, 4 has cursor, 5 cursor score, 6 cursor member, 7 has price range,
--   8 min price, 9 max price, 10 number of category sets.
-- Returns {more (0|1), member, score, member, score, ...}: the page, then one look-ahead row.
local kind, ascending, size = ARGV[1], ARGV[2] == 'asc', tonumber(ARGV[3])
local has_cursor, c_score, c_member = ARGV[4] == '1', ARGV[5], ARGV[6]
local result, price_range, categories = KEYS[3], KEYS[4], KEYS[5]
local n_categories = tonumber(ARGV[10])

local inputs = {KEYS[1]}
if ARGV[7] == '1' then
  redis.call('ZRANGESTORE', price_range, KEYS[2], ARGV[8], ARGV[9], 'BYSCORE')
  inputs[#inputs + 1] = price_range
end
if n_categories == 1 then
  inputs[#inputs + 1] = KEYS[6]
elseif n_categories > 1 then
  redis.call('SUNIONSTORE', categories, unpack(KEYS, 6, 5 + n_categories))
  inputs[#inputs + 1] = categories
end
for i = 6 + n_categories, #KEYS do
  inputs[#inputs + 1] = KEYS[i]
end

-- The order index's scores survive (weight 1); the filters only select (weight 0).
local source, owned = KEYS[1], false
if #inputs > 1 then
  local args = {result, #inputs}
  for _, key in ipairs(inputs) do
    args[#args + 1] = key
  end
  args[#args + 1] = 'WEIGHTS'
  for i = 1, #inputs do
    args[#args + 1] = (i == 1) and 1 or 0
  end
  redis.call('ZINTERSTORE', unpack(args))
  source, owned = result, true
end

-- Ranks in ascending order: `before` rows sort before the cursor, `from` is the first after it.
local function cursor_ranks()
  if owned then
    redis.call('ZADD', source, c_score, c_member)
    local rank = redis.call('ZRANK', source, c_member)
    return rank, rank + 1
  end
  local score = redis.call('ZSCORE', source, c_member)
  if score and tonumber(score) == tonumber(c_score) then
    local rank = redis.call('ZRANK', source, c_member)
    return rank, rank + 1
  end
  -- The cursor's product left or moved: count the rows that sort before (score, member).
  redis.call('ZRANGESTORE', result, source, c_score, c_score, 'BYSCORE')
  redis.call('ZADD', result, c_score, c_member)
  local before = redis.call('ZCOUNT', source, '-inf', '(' .. c_score)
    + redis.call('ZRANK', result, c_member)
  return before, before
end

local rows = {}
if kind == 'lex' then
  local members
  if ascending then
    members = redis.call('ZRANGE', source, has_cursor and ('(' .. c_member) or '-', '+',
      'BYLEX', 'LIMIT', 0, size + 1)
  else
    members = redis.call('ZRANGE', source, has_cursor and ('(' .. c_member) or '+', '-',
      'BYLEX', 'REV', 'LIMIT', 0, size + 1)
  end
  for _, member in ipairs(members) do
    rows[#rows + 1] = member
    rows[#rows + 1] = '0'
  end
elseif not has_cursor then
  if ascending then
    rows = redis.call('ZRANGE', source, 0, size, 'WITHSCORES')
  else
    rows = redis.call('ZRANGE', source, 0, size, 'REV', 'WITHSCORES')
  end
else
  local before, from = cursor_ranks()
  if ascending then
    rows = redis.call('ZRANGE', source, from, from + size, 'WITHSCORES')
  elseif before > 0 then
    local found = redis.call('ZRANGE', source, math.max(0, before - size - 1), before - 1,
      'WITHSCORES')
    for i = #found - 1, 1, -2 do
      rows[#rows + 1] = found[i]
      rows[#rows + 1] = found[i + 1]
    end
  end
end
redis.call('DEL', result, price_range, categories)

local more = 0
if #rows > 2 * size then
  more = 1
end
local reply = {more}
for i = 1, math.min(#rows, 2 * size) do
  reply[#reply + 1] = rows[i]
end
return reply
