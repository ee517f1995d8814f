-- The card simulator's charge: at most once per idempotency key; a repeat gets the first result.
-- KEYS[1] the charge's record (by idempotency key), KEYS[2] the card token's behaviour,
-- KEYS[3] the ledger hash of the charge this call would make (its id is ARGV[1]).
-- ARGV[1] the new charge's id, ARGV[2] the amount, ARGV[3] the currency.
-- Returns the charge's record as JSON: the first one made with this key, or this call's. A
-- processor error, or a card the simulator does not know, is answered without being recorded.
local card = redis.call('HMGET', KEYS[2], 'outcome', 'code')
local outcome, code = card[1], card[2] or ''
if not outcome or outcome == 'processor_error' then
  local earlier = redis.call('GET', KEYS[1])
  if earlier then
    return earlier
  end
  if not outcome then
    outcome, code = 'declined', 'CARD_DECLINED'
  end
end
local charge_id = ''
if outcome == 'succeeded' then
  charge_id = ARGV[1]
end
local record = '{"outcome": ' .. cjson.encode(outcome) .. ', "charge_id": '
  .. cjson.encode(charge_id) .. ', "code": ' .. cjson.encode(code) .. ', "amount": ' .. ARGV[2]
  .. ', "currency": ' .. cjson.encode(ARGV[3]) .. '}'
if not card[1] or outcome == 'processor_error' then
  return record
end
-- SET NX GET: two concurrent charges with one key record (and report) one result.
local earlier = redis.call('SET', KEYS[1], record, 'NX', 'GET')
if earlier then
  return earlier
end
if charge_id ~= '' then
  -- The charge's ledger entry, so that a refund can check what is left.
  redis.call('HSETNX', KEYS[3], 'charged', ARGV[2])
end
return record
