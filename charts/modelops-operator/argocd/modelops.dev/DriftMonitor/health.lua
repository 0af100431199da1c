-- Argo CD health of a DriftMonitor (modelops.dev/v1alpha1): Degraded while the model drifts.
-- condition() and said() repeat in each kind's script: Argo CD runs every script alone (no require).
local hs = {}
local function condition(conditions, kind)
  if conditions == nil then return nil end
  for _, c in ipairs(conditions) do
    if c.type == kind then return c end
  end
  return nil
end
local function said(text, fallback)
  if text ~= nil and text ~= "" then return text end
  return fallback
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the modelops operator to see this DriftMonitor"
  return hs
end
if obj.metadata.generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < obj.metadata.generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the modelops operator to act on the latest spec"
  return hs
end
local stalled = condition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = said(stalled.message, "Stalled: needs a person")
  return hs
end
-- operators before the Stalled condition said the same with Ready=False and these reasons
local ready = condition(status.conditions, "Ready")
if ready ~= nil and ready.status == "False" and (ready.reason == "ModelDeploymentNotFound" or ready.reason == "InvalidReference" or ready.reason == "InvalidSpec") then
  hs.status = "Degraded"
  hs.message = said(ready.message, ready.reason)
  return hs
end
local drifted = condition(status.conditions, "Drifted")
if status.drifted == true then
  hs.status = "Degraded"
  local why = "Drift detected"
  if drifted ~= nil then why = said(drifted.message, why) end
  if status.worstFeature ~= nil and why == "Drift detected" then why = "Drift detected; worst feature " .. status.worstFeature end
  hs.message = why
  return hs
end
if status.drifted == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the first evaluation"
  if drifted ~= nil then hs.message = said(drifted.message, hs.message) end
  return hs
end
hs.status = "Healthy"
hs.message = "No drift"
if drifted ~= nil then hs.message = said(drifted.message, hs.message) end
return hs
