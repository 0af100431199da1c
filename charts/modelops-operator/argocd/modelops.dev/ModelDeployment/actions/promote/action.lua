-- spec.rollout.promote = a new value (a nonce): the operator acts once per value, as `kubectl modelops promote`.
local os = require("os")
if obj.spec.rollout == nil then obj.spec.rollout = {} end
obj.spec.rollout.promote = "argocd-" .. os.time()
return obj
