--[[ photobrain integrations install: Library > Plug-in Extras > Search photos... A dialog asks what to look
for (the last searches are offered); the photos found, in rank order, go into the collection
"photobrain / Search: QUERY". ]]
local LrApplication = import 'LrApplication'
local LrBinding = import 'LrBinding'
local LrDialogs = import 'LrDialogs'
local LrView = import 'LrView'

local Collections = require 'PhotobrainCollections'
local Prefs = require 'PhotobrainPrefs'
local Service = require 'PhotobrainService'
local Task = require 'PhotobrainTask'

Task.run('photobrain: Search photos', function(context)
	local prefs = Prefs.get()
	local props = LrBinding.makePropertyTable(context)
	props.query = prefs.searches[1] or ''
	local f = LrView.osFactory()
	local contents = f:column {
		bind_to_object = props,
		spacing = f:control_spacing(),
		f:static_text { title = 'Describe the photos you are looking for (what is in them, colours, light, mood):' },
		f:combo_box { value = LrView.bind('query'), items = prefs.searches, width_in_chars = 50, immediate = true },
	}
	local button = LrDialogs.presentModalDialog { title = 'photobrain: Search photos', contents = contents,
		actionVerb = 'Search' }
	local query = string.match(tostring(props.query or ''), '^%s*(.-)%s*$')
	if button ~= 'ok' or query == '' then
		return
	end
	Prefs.remember(query)
	local service, problem = Service.connect()
	if not service then
		return Task.fail(problem)
	end
	local answer, reason = service:post('/search', { query = query, n = prefs.results, cutoff = prefs.cutoff,
		default_model = true }, 120)
	if not answer then
		return Task.fail('photobrain could not search for "' .. query .. '": ' .. reason)
	end
	local catalog = LrApplication.activeCatalog()
	local photos, missing = Service.photosOf(catalog, answer.hits)
	if #photos == 0 then
		LrDialogs.message(Task.TITLE, 'No photo in this catalog matches "' .. query .. '".', 'info')
	elseif not Collections.show(catalog, Collections.name('Search: ', query), photos) then
		return
	end
	Collections.reportMissing(missing)
end)
