-- Tell each waiting job (the first `limit`) its new queue position and ETA when it changed:
-- one `type=queue` event on its stream. Stale entries met on the way are dropped.
-- KEYS: capacity_keys(1). ARGV: maxlen, limit, average build seconds, slot offsets JSON
-- (seconds until each global slot frees, ascending). Returns how many events were appended.
MAXLEN = ARGV[1]
capacity_keys(1)
local limit, avg, offsets = tonumber(ARGV[2]), tonumber(ARGV[3]), cjson.decode(ARGV[4])
local sent, pos = 0, 0
local ids = redis.call('ZRANGE', CK.queue, 0, limit - 1)
if #ids == 0 then return 0 end
local last = redis.call('HMGET', CK.published, unpack(ids))
for i, id in ipairs(ids) do
  local h = redis.call('HMGET', named('job', id), 'status', 'user_id')
  if not waiting(h) then
    dequeue(id, h[2])
  else
    pos = pos + 1
    if tonumber(last[i]) ~= pos then
      local wave, slot = math.floor((pos - 1) / #offsets), (pos - 1) % #offsets + 1
      local eta = math.floor(offsets[slot] + wave * avg + 0.5)
      redis.call('XADD', named('events', id), 'MAXLEN', '~', MAXLEN, '*', 'type', 'queue',
        'position', pos, 'eta_seconds', eta)
      redis.call('HSET', CK.published, id, pos)
      sent = sent + 1
    end
  end
end
return sent
