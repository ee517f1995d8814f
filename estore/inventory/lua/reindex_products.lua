-- Bring products written by an older layout to layout 3: file each under its category for
-- subtree listings, and put it in the ordered filter sets (by created_at, price and name) and
-- its price band.
-- Idempotent, so a re-index can stop and start again and two instances may run it at once. A
-- product whose rev moved since Python read it was rewritten by this version: it is skipped.
-- KEYS: 1 category of each product, 2 category parents, 3 subtree product counts, 4-7 stock
--   sets (in id, in nl, low id, low nl), then for each product: its hash, then its filter
--   sets and price band as add_to_filters takes them (ARGV says how many of each flavour).
-- ARGV: for each product: the rev read, the number of its filter sets of each flavour.
-- Returns the number of products brought up to date.
local filing, stock = {KEYS[1], KEYS[2], KEYS[3]}, {KEYS[4], KEYS[5], KEYS[6], KEYS[7]}
local k, done = 8, 0
for a = 1, #ARGV, 2 do
  local n = tonumber(ARGV[a + 1])
  local f = redis.call('HMGET', KEYS[k], 'id', 'category_id', 'rev', 'sort_key', 'created_at',
    'price_minor')
  if f[1] and f[3] == ARGV[a] then
    file_product(filing, f[1], f[2] or '')
    add_to_filters(k + 1, n, f[1], f[4], f[5], f[6])
    index_stock(KEYS[k], stock)
    done = done + 1
  end
  k = k + 2 + 3 * n
end
return done
