-- Move an order from the status it had when read to a new one, or report why not; and, when
-- this is the last step of an idempotent request, record the request's outcome with it.
-- KEYS: order hash, the bucket's order events, user's by old status,
--       user's by new status, processing (lease deadlines), expiring (unpaid order deadlines),
--       the order's refunds list, [the request id's record, when ARGV[9] is set]
-- ARGV[1] index member, ARGV[2] expected status, ARGV[3] expected payment status ('' any),
-- ARGV[4] expected refund amount ('' any), ARGV[5] new status,
-- ARGV[6] processing: lease deadline ms, '' to remove, '-' to leave,
-- ARGV[7] expiring: deadline ms, '' to remove, '-' to leave,
-- ARGV[8] an entry to append to the refunds list ('' none),
-- ARGV[9] the request's claim token ('' none), ARGV[10] its outcome (unused: it is in the
-- record), ARGV[11] the request id's whole record with that outcome (Claim.record): recorded
-- only if the claim is still this one's (as idempotency_finish.lua),
-- ARGV[12] the fields to set, as a JSON array of strings [field, value, ...] (one argument:
-- the client packs each argument in Python, at a cost).
-- An order marked 'unlisted' (written with its card, create_order.lua) is in no status index
-- yet: it goes into its new status's, whatever the change. A change of listing bumps the
-- order's version and goes to the events, for the indexer of the admin listings.
-- Returns {1, recorded (1 or 0)} on success, {0, status, payment_status} on a mismatch, {-1} if
-- missing.
local current = redis.call('HMGET', KEYS[1], 'status', 'payment_status', 'refund_amount', 'id',
  'unlisted', 'version')
if not current[1] then
  return {-1}
end
if current[1] ~= ARGV[2]
    or (ARGV[3] ~= '' and current[2] ~= ARGV[3])
    or (ARGV[4] ~= '' and current[3] ~= ARGV[4]) then
  return {0, current[1], current[2]}
end
local unlisted = current[5] == '1'
local fields = {'status', ARGV[5]}
if unlisted then
  fields[3] = 'unlisted'
  fields[4] = '0'
end
for _, part in ipairs(cjson.decode(ARGV[12])) do
  fields[#fields + 1] = part
end
-- The version is bumped in the same HSET (read above), not by a HINCRBY of its own.
local listing_changes = unlisted or ARGV[5] ~= ARGV[2]
local version
if listing_changes then
  version = (tonumber(current[6]) or 0) + 1
  fields[#fields + 1] = 'version'
  fields[#fields + 1] = version
end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[8] ~= '' then
  redis.call('RPUSH', KEYS[7], ARGV[8])
end
local order_id = current[4]
if unlisted then
  redis.call('ZADD', KEYS[4], 0, ARGV[1])
elseif ARGV[5] ~= ARGV[2] then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[4], 0, ARGV[1])
end
if listing_changes then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 10000, '*', 'id', order_id, 'v', version,
    's', ARGV[5], 'm', ARGV[1])
end
if ARGV[6] == '' then
  redis.call('ZREM', KEYS[5], order_id)
elseif ARGV[6] ~= '-' then
  redis.call('ZADD', KEYS[5], ARGV[6], order_id)
end
if ARGV[7] == '' then
  redis.call('ZREM', KEYS[6], order_id)
elseif ARGV[7] ~= '-' then
  redis.call('ZADD', KEYS[6], ARGV[7], order_id)
end
local recorded = 0
if ARGV[9] ~= '' then
  -- One command when the claim is still ours (nearly always): write the record and read the
  -- one it replaces; if that was not this claim's, put it back (no one sees the difference:
  -- the script is atomic). The record lives long enough already (idempotency_finish.lua).
  local before = redis.pcall('SET', KEYS[8], ARGV[11], 'KEEPTTL', 'GET')
  if type(before) == 'string' and string.match(before, '^[^|]*|[^|]*|([^|]*)|') == ARGV[9] then
    recorded = 1
  elseif type(before) == 'string' then
    redis.call('SET', KEYS[8], before, 'KEEPTTL')
  elseif not before then
    redis.call('DEL', KEYS[8])
  end  -- else a record of the format before (a hash, never this claim's): SET GET left it
end
return {1, recorded}
