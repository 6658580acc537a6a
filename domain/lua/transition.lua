-- Compare-and-set one transition. ARGV: prefix, now, maxlen, stage_deadline, job_id,
-- expected ('' = whatever the current status is), to, set_cancel_flag ('1'/'0'), field pairs...
PREFIX, NOW, MAXLEN = ARGV[1], ARGV[2], ARGV[3]
STAGE_DEADLINE = tonumber(ARGV[4]); if STAGE_DEADLINE == 0 then STAGE_DEADLINE = nil end
local job_id, expected, to, cancel = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {'missing'} end
if expected ~= '' and cur ~= expected then return {'conflict', cur} end
if not allowed(cur, to) then return {'illegal', cur} end
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
if cancel == '1' then redis.call('SET', KEYS[3], '1', 'EX', 604800) end
local id = apply(KEYS[1], KEYS[2], job_id, cur, to, fields)
return {'ok', cur, id}
