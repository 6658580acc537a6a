-- Tell each waiting job (the first `limit`) its new queue position and ETA when it changed:
-- one `type=queue` event on its stream. Stale entries met on the way are dropped.
-- ARGV: prefix, maxlen, limit, average build seconds, slot offsets JSON (seconds until each
-- global slot frees, ascending). Returns how many events were appended.
PREFIX, MAXLEN = ARGV[1], ARGV[2]
local limit, avg, offsets = tonumber(ARGV[3]), tonumber(ARGV[4]), cjson.decode(ARGV[5])
local published, sent, pos = k_published(), 0, 0
local ids = redis.call('ZRANGE', k_queue(), 0, limit - 1)
if #ids == 0 then return 0 end
local last = redis.call('HMGET', published, unpack(ids))
for i, id in ipairs(ids) do
  local h = redis.call('HMGET', k_job(id), 'status', 'user_id')
  if not waiting(h) then
    dequeue(id, h[2])
  else
    pos = pos + 1
    if tonumber(last[i]) ~= pos then
      local wave, slot = math.floor((pos - 1) / #offsets), (pos - 1) % #offsets + 1
      local eta = math.floor(offsets[slot] + wave * avg + 0.5)
      redis.call('XADD', k_job(id) .. ':events', 'MAXLEN', '~', MAXLEN, '*', 'type', 'queue',
        'position', pos, 'eta_seconds', eta)
      redis.call('HSET', published, id, pos)
      sent = sent + 1
    end
  end
end
return sent
