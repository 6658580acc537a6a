-- The last stage's hand-off: LAST_STAGE -> READY, the preview's registry expiry, the build's
-- duration (the queue's ETAs) and the admission of waiting jobs into the freed slot, with the
-- acknowledgement of the message (hand_off_lib.lua). KEYS (beyond hand_off_lib's): the job's
-- state keys (state_keys(8), all ten), the capacity keys (capacity_keys(18)).
-- ARGV: 1 now, 2 maxlen, 3 stage_deadline; writes.ready = {expires_at, window, admission =
-- {cap, scan, caps JSON, default tier}}. Returns {outcome, status, sandbox_id, admitted
-- job_id, attempt, ...}; outcome is ready, or one of begin()'s.
NOW, MAXLEN = ARGV[1], ARGV[2]
STAGE_DEADLINE = tonumber(ARGV[3]); if STAGE_DEADLINE == 0 then STAGE_DEADLINE = nil end
capacity_keys(18)
local reply, h, w, own, sandbox = begin()
if reply then return reply end
local r = w.ready
redis.call('HSET', KEYS[1], unpack(own))
local fields = {'sandbox_expires_at', r.expires_at}
for _, v in ipairs(w.fields) do fields[#fields + 1] = v end
apply(state_keys(8), ARGV[4], h[1], 'ready', fields)
-- The preview outlives the build: the reaper reads the registry's expiry.
local record = sandbox ~= '' and redis.call('HGET', KEYS[4], sandbox)
if record then
  local data = cjson.decode(record)
  data.expires_at = tonumber(r.expires_at)
  redis.call('HSET', KEYS[4], sandbox, cjson.encode(data))
end
push_duration(tostring(tonumber(NOW) - tonumber(h[6] or h[7] or NOW)), tonumber(r.window))
local out = {'ready', 'ready', sandbox}
local a = r.admission
for _, v in ipairs(admit_waiting(tonumber(a[1]), tonumber(a[2]), cjson.decode(a[3]), a[4])) do
  out[#out + 1] = v
end
to_queue_db()
ack()
return out
