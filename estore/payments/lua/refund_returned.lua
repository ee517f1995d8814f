-- The processor returned a refund's money: RETURNED, and the units it asked to restock become
-- this refund's to return, as far as each line has units not yet claimed by another refund
-- (a line never has more units returned than were bought). From here on the refund cannot
-- fail, so only a refund that succeeded restocks.
-- KEYS: 1 order hash, 2 refund states hash
-- ARGV: 1 refund id, then per line asked: product id, units asked, units bought.
-- Returns {state, units}: RETURNED (or the later state it had reached) and the units it returns
-- (JSON [[product id, units], ...]; '' none).
local state = redis.call('HGET', KEYS[2], ARGV[1])
if state ~= 'PENDING' then
  return {state or '', redis.call('HGET', KEYS[2], ARGV[1] .. ':units') or ''}
end
-- Before units were claimed per line, one refund claimed the whole order's, once.
local whole = redis.call('HGET', KEYS[1], 'restocked') == '1'
  or (redis.call('HGET', KEYS[1], 'restock_claim') or '') ~= ''
local units = {}
for i = 2, #ARGV, 3 do
  local field = 'restock_claimed:' .. ARGV[i]
  local bought = tonumber(ARGV[i + 2])
  local claimed = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  if whole then
    claimed = bought
  end
  local grant = math.min(tonumber(ARGV[i + 1]), bought - claimed)
  if grant > 0 then
    redis.call('HINCRBY', KEYS[1], field, grant)
    units[#units + 1] = {ARGV[i], grant}
  end
end
local encoded = ''
if #units > 0 then
  encoded = cjson.encode(units)
  redis.call('HSET', KEYS[2], ARGV[1] .. ':units', encoded)
end
redis.call('HSET', KEYS[2], ARGV[1], 'RETURNED')
return {'RETURNED', encoded}
