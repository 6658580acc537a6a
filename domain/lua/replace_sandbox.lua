-- Record a replacement sandbox for a job whose sandbox was lost mid-build: a compare-and-set
-- like `starting`'s claim, only by the run that still holds the stage and only over the
-- sandbox it saw gone. KEYS: 1 job. ARGV: 1 stage, 2 holder, 3 the lost sandbox id, 4 the new
-- one, 5 max replacements, 6 now, 7 lease seconds ('0': none), 8 the new one's host ('' when
-- any host reaches it).
-- Returns {outcome, the job's sandbox afterwards}; outcome: replaced | raced (a twin run
-- replaced it first: use its sandbox) | exhausted | cancelled | moved | missing.
local h = redis.call('HMGET', KEYS[1], 'status', 'holder', 'sandbox_id', 'cancelled',
  'sandbox_replacements')
if not h[1] then return {'missing', ''} end
local current = h[3] or ''
if h[4] == '1' then return {'cancelled', current} end
if h[1] ~= ARGV[1] or (h[2] or '') ~= ARGV[2] then return {'moved', current} end
if current ~= ARGV[3] then return {'raced', current} end
local n = tonumber(h[5] or '0')
if n >= tonumber(ARGV[5]) then return {'exhausted', current} end
local set = {'sandbox_id', ARGV[4], 'sandbox_replacements', n + 1, 'sandbox_host', ARGV[8] or ''}
if tonumber(ARGV[7]) > 0 then
  set[7], set[8] = 'lease_until', tostring(tonumber(ARGV[6]) + tonumber(ARGV[7]))
end
redis.call('HSET', KEYS[1], unpack(set))
return {'replaced', ARGV[4]}
