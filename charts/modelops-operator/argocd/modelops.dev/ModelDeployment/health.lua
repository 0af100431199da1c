-- Argo CD health of a ModelDeployment (modelops.dev/v1alpha1).
-- condition() and said() repeat in each kind's script: Argo CD runs every script alone (no require).
-- Runs in Argo CD's Lua VM without the string and math libraries (argocd-cm customizations).
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
  hs.message = "Waiting for the modelops operator to see this ModelDeployment"
  return hs
end
if obj.metadata.generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < obj.metadata.generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the modelops operator to act on the latest spec"
  return hs
end

-- a deploy freeze waits for the stable version's error budget (or an override): Suspended, although
-- kstatus calls it Stalled (nothing moves until a person or the budget does)
local phase = status.phase
if phase == "Frozen" then
  hs.status = "Suspended"
  hs.message = "Frozen: " .. said(status.message, "the new version waits while stable burns its error budget")
  return hs
end
local stalled = condition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = said(stalled.message, said(status.message, "Stalled: needs a person"))
  return hs
end
local accepted = condition(status.conditions, "Accepted")
if accepted ~= nil and accepted.status == "False" then
  hs.status = "Degraded"
  hs.message = said(accepted.message, "The operator refused this spec")
  return hs
end

if phase == "RolledBack" or phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = said(status.message, phase)
  return hs
end
local paused = obj.spec ~= nil and obj.spec.rollout ~= nil and obj.spec.rollout.paused == true
if phase == "Paused" or (paused and (phase == "Progressing" or phase == "Promoting")) then
  hs.status = "Suspended"
  hs.message = "Paused: " .. said(status.message, "the rollout waits for resume or promote")
  return hs
end
if phase == "Pending" or phase == "Progressing" or phase == "Promoting" or phase == "Baking" then
  hs.status = "Progressing"
  hs.message = said(status.message, phase)
  return hs
end

local reconciling = condition(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = said(reconciling.message, "Reconciling")
  return hs
end
local ready = condition(status.conditions, "Ready")
if phase == "Available" and (ready == nil or ready.status == "True") then
  hs.status = "Healthy"
  hs.message = said(status.message, "Serving")
  return hs
end
hs.status = "Progressing"
hs.message = said(status.message, "Waiting for the model to serve")
if ready ~= nil then hs.message = said(ready.message, hs.message) end
return hs
