-- spec.rollout.paused = true: hold the rollout at its step, as `kubectl modelops pause`.
if obj.spec.rollout == nil then obj.spec.rollout = {} end
obj.spec.rollout.paused = true
return obj
