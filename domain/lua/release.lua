-- Scheduled jobs whose time has come go SCHEDULED -> QUEUED through the store's transition
-- (apply: status, timestamps, event) and into the admission queue, in one step so no crash can
-- leave a released job outside the queue. Their quota was counted when they were scheduled.
-- KEYS: capacity_keys(1). ARGV: now, maxlen, limit, boosts JSON {tier: boost}.
-- Returns the released job ids.
NOW, MAXLEN = ARGV[1], ARGV[2]
capacity_keys(1)
local limit, boosts = tonumber(ARGV[3]), cjson.decode(ARGV[4])
local due = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', CK.scheduled, '-inf', NOW, 'LIMIT', 0, limit)) do
  due[#due + 1] = {id, tonumber(redis.call('HGET', named('job', id), 'created_at')) or 0}
end
-- Jobs due at the same midnight join the queue in the order they were started (FIFO).
table.sort(due, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
local out = {}
for _, entry in ipairs(due) do
  local id = entry[1]
  local job = named('job', id)
  local h = redis.call('HMGET', job, 'status', 'user_id', 'tier')
  redis.call('ZREM', CK.scheduled, id)
  if h[2] then redis.call('SREM', named('scheduled_user', h[2]), id) end
  if h[1] == 'scheduled' then
    -- No stage deadline: a job waiting in the queue is not stuck (STAGE_DEADLINE stays nil),
    -- and not terminal: no slot keys.
    apply({job = job, events = named('events', id)}, id, 'scheduled', 'queued', {})
    enqueue(id, job, named('queue_user', h[2]), boosts[h[3]] or 0)
    out[#out + 1] = id
  end
end
return out
