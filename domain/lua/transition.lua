-- Compare-and-set one transition. KEYS: the job's state keys (state_keys; all of them for a
-- terminal transition). ARGV: now, maxlen, stage_deadline, job_id, expected ('' = whatever the
-- current status is), to, set_cancel_flag ('1'/'0'), field pairs...
NOW, MAXLEN = ARGV[1], ARGV[2]
STAGE_DEADLINE = tonumber(ARGV[3]); if STAGE_DEADLINE == 0 then STAGE_DEADLINE = nil end
local k = state_keys(1)
local job_id, expected, to, cancel = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local cur = redis.call('HGET', k.job, 'status')
if not cur then return {'missing'} end
if expected ~= '' and cur ~= expected then return {'conflict', cur} end
if not allowed(cur, to) then return {'illegal', cur} end
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
if cancel == '1' then redis.call('SET', k.cancel, '1', 'EX', 604800) end
local id = apply(k, job_id, cur, to, fields)
return {'ok', cur, id}
