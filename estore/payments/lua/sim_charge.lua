-- The card simulator's charge: at most once per idempotency key; a repeat gets the first result.
-- KEYS[1] the charge's record (by idempotency key), KEYS[2] the card token's behaviour (read
-- only for a token that does not carry it, one made before tokens did).
-- ARGV[1] the charge's id (made from the key: a refund finds the record, which is the ledger
-- entry, from it), ARGV[2] the amount, ARGV[3] the currency, ARGV[4] the card's outcome as its
-- token carries it ('' = read KEYS[2]), ARGV[5] its decline code.
-- Returns the charge's record as JSON: the first one made with this key, or this call's. A
-- processor error, or a card the simulator does not know, is answered without being recorded.
local outcome, code = ARGV[4], ARGV[5]
if outcome == '' then
  local card = redis.call('HMGET', KEYS[2], 'outcome', 'code')
  outcome, code = card[1], card[2] or ''
end
local known = outcome and outcome ~= 'processor_error'
if not known then
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
if not known then
  return record
end
-- SET NX GET: two concurrent charges with one key record (and report) one result.
local earlier = redis.call('SET', KEYS[1], record, 'NX', 'GET')
if earlier then
  return earlier
end
return record
