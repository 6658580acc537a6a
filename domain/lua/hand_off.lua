-- A stage's whole exit in one round trip: the stage's writes, the next stage's message put on
-- the queue (or the READY transition, with the preview's registry expiry, the build's duration
-- and the admission of waiting jobs), the stage's metrics, and the acknowledgement of the
-- message that ran the stage. Nothing is half done: a crash before it redelivers the stage, a
-- crash after it finds the next message queued.
--
-- KEYS: 1 job, 2 events, 3 cancel flag, 4 files, 5 metrics, 6 sandbox registry,
--       7 queue (list of message ids), 8 queue messages (id -> data), 9 this worker's
--       unacked set, 10 worker heartbeats.
-- ARGV: 1 prefix, 2 now, 3 maxlen, 4 stage_deadline, 5 job_id, 6 stage, 7 holder (the id of
--       the message that entered the stage), 8 writes JSON {fields = {k, v, ...},
--       files = {path = text} | absent, claim = {seen, new} | absent,
--       metrics = {{field, amount, 'i'|'f'}, ...}, ready = {expires_at, window, admission} |
--       absent}, 9 message id to acknowledge ('' for none), 10 worker id, 11 now in ms,
--       12 next message id, 13 next message data ('' for none).
-- Returns {outcome, status, sandbox_id, admitted job_id, attempt, ...}; outcome is
-- handed_off | ready (acknowledged here), twin (a second run of a stage already handed off:
-- acknowledged, nothing written), cancelled | moved | missing (nothing written or acked).
PREFIX, NOW, MAXLEN = ARGV[1], ARGV[2], ARGV[3]
STAGE_DEADLINE = tonumber(ARGV[4]); if STAGE_DEADLINE == 0 then STAGE_DEADLINE = nil end
local job, events, files_key, metrics = KEYS[1], KEYS[2], KEYS[4], KEYS[5]
local job_id, stage, holder = ARGV[5], ARGV[6], ARGV[7]

local function ack()
  if ARGV[9] == '' then return end
  redis.call('ZADD', KEYS[10], ARGV[11], ARGV[10])
  if redis.call('SREM', KEYS[9], ARGV[9]) > 0 then redis.call('HDEL', KEYS[8], ARGV[9]) end
end

local h = redis.call('HMGET', job, 'status', 'holder', 'handed_off', 'sandbox_id', 'starting_at',
                     'created_at')
local cur, sandbox = h[1], h[4] or ''
if not cur then return {'missing', '', ''} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'cancelled', cur, sandbox} end
if cur ~= stage or (h[2] or '') ~= holder then return {'moved', cur, sandbox} end
if h[3] == holder then ack(); return {'twin', cur, sandbox} end

local w = cjson.decode(ARGV[8])
-- What the job record keeps of the hand-off itself (not an event: clients never see it).
local own = {'handed_off', holder}
if w.claim and sandbox == w.claim[1] then
  sandbox = w.claim[2]
  own[3], own[4] = 'sandbox_id', sandbox
end
redis.call('HSET', job, unpack(own))
if w.files then
  redis.call('DEL', files_key)
  for path, text in pairs(w.files) do redis.call('HSET', files_key, path, text) end
end
for _, m in ipairs(w.metrics) do
  if m[3] == 'f' then redis.call('HINCRBYFLOAT', metrics, m[1], m[2])
  else redis.call('HINCRBY', metrics, m[1], m[2]) end
end

local out = {'handed_off', stage, sandbox}
if w.ready then
  local r = w.ready
  local fields = {'sandbox_expires_at', r.expires_at}
  for _, v in ipairs(w.fields) do fields[#fields + 1] = v end
  apply(job, events, job_id, cur, 'ready', fields)
  -- The preview outlives the build: the reaper reads the registry's expiry.
  local record = sandbox ~= '' and redis.call('HGET', KEYS[6], sandbox)
  if record then
    local data = cjson.decode(record)
    data.expires_at = tonumber(r.expires_at)
    redis.call('HSET', KEYS[6], sandbox, cjson.encode(data))
  end
  push_duration(tostring(tonumber(NOW) - tonumber(h[5] or h[6] or NOW)), tonumber(r.window))
  local a = r.admission
  out[1], out[2] = 'ready', 'ready'
  for _, v in ipairs(admit_waiting(tonumber(a[1]), tonumber(a[2]), cjson.decode(a[3]), a[4])) do
    out[#out + 1] = v
  end
else
  if #w.fields > 0 then redis.call('HSET', job, unpack(w.fields)) end
  if ARGV[13] ~= '' then
    redis.call('HSET', KEYS[8], ARGV[12], ARGV[13])
    redis.call('RPUSH', KEYS[7], ARGV[12])
  end
end
ack()
return out
