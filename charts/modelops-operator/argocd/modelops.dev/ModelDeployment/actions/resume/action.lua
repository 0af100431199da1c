-- spec.rollout.paused = false and a new spec.rollout.resume, as `kubectl modelops resume`
-- (the nonce also continues past a pause step without a duration).
local os = require("os")
if obj.spec.rollout == nil then obj.spec.rollout = {} end
obj.spec.rollout.paused = false
obj.spec.rollout.resume = "argocd-" .. os.time()
return obj
