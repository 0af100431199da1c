-- spec.triggers.manual = a new value: one retraining run, as `kubectl modelops retrain`.
local os = require("os")
if obj.spec.triggers == nil then obj.spec.triggers = {} end
obj.spec.triggers.manual = "argocd-" .. os.time()
return obj
