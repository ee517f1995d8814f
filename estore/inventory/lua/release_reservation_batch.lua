-- release_reservation.lua for each entry of a batch, in one script; each entry on its own.
-- KEYS and ARGV: as finish_each (_stock.lua) lays them out.
-- Returns one reply per entry, in order, each as release_reservation.lua's.
return finish_each(release_hold)
