-- Free slots held by jobs that vanished or are terminal (defence in depth: every terminal
-- transition already frees them). KEYS: capacity_keys(1). Returns the job ids freed.
capacity_keys(1)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', CK.live, 0, -1)) do
  local h = redis.call('HMGET', named('job', id), 'status', 'user_id', 'project_id')
  if not h[1] or terminal(h[1]) then
    redis.call('ZREM', CK.live, id)
    if h[2] then redis.call('SREM', named('live_user', h[2]), id) end
    if h[3] then redis.call('SREM', named('live_project', h[3]), id) end
    out[#out + 1] = id
  end
end
return out
