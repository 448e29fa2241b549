--[[ photobrain integrations install: Library > Plug-in Extras > Find similar photos. The selected photo and
the photos photobrain finds like it, in rank order, in the collection "photobrain / Similar to NAME". ]]
local LrApplication = import 'LrApplication'
local LrDialogs = import 'LrDialogs'

local Collections = require 'PhotobrainCollections'
local Prefs = require 'PhotobrainPrefs'
local Service = require 'PhotobrainService'
local Task = require 'PhotobrainTask'

Task.run('photobrain: Find similar photos', function(context)
	local catalog = LrApplication.activeCatalog()
	local photo = catalog:getTargetPhoto()
	if not photo then
		LrDialogs.message(Task.TITLE, 'Select a photo first: photobrain finds the photos that look like it.', 'info')
		return
	end
	local service, problem = Service.connect()
	if not service then
		return Task.fail(problem)
	end
	local prefs = Prefs.get()
	local path = photo:getRawMetadata('path')
	local answer, reason = service:post('/similar', { path = path, n = prefs.results, cutoff = prefs.cutoff,
		default_model = true }, 120)
	if not answer then
		return Task.fail('photobrain could not find photos like ' .. photo:getFormattedMetadata('fileName')
			.. ': ' .. reason)
	end
	local photos, missing = Service.photosOf(catalog, answer.hits)
	table.insert(photos, 1, photo)
	local name = Collections.name('Similar to ', photo:getFormattedMetadata('fileName'))
	if Collections.show(catalog, name, photos) then
		if #photos == 1 and #missing == 0 then
			LrDialogs.message(Task.TITLE, 'No photo stands out as like ' .. photo:getFormattedMetadata('fileName')
				.. '. A lower cutoff in File > Plug-in Manager > photobrain brings more.', 'info')
		end
		Collections.reportMissing(missing)
	end
end)
