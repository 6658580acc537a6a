-- Free slots held by jobs that vanished or are terminal (defence in depth: every terminal
-- transition already frees them), and slots of wakes whose mark is gone or failed (a wake's
-- worker died: wake_done / wake_fail free them otherwise). A wake's slot is `wake:<job_id>`
-- (wake_begin.lua). KEYS: capacity_keys(1). Returns the ids freed.
capacity_keys(1)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', CK.live, 0, -1)) do
  local woken = string.match(id, '^wake:(.+)$')
  local free
  local h
  if woken then
    h = redis.call('HMGET', named('job', woken), 'user_id', 'project_id')
    local state = redis.call('HGET', named('wake', woken), 'state')
    free = (not state) or state == 'failed'
  else
    local s = redis.call('HMGET', named('job', id), 'status', 'user_id', 'project_id')
    free = (not s[1]) or terminal(s[1])
    h = {s[2], s[3]}
  end
  if free then
    redis.call('ZREM', CK.live, id)
    if h[1] then redis.call('SREM', named('live_user', h[1]), id) end
    if h[2] then redis.call('SREM', named('live_project', h[2]), id) end
    out[#out + 1] = id
  end
end
return out
