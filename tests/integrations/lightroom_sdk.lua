--[[ A stand-in for Lightroom Classic's Lua SDK, for the photobrain plug-in's tests. It keeps a small catalog
(photos, the keyword tree, collection sets and collections) and records what the plug-in asks of it. It
enforces the rules Lightroom enforces, so a plug-in breaking them fails here as it would there: every catalog
change inside withWriteAccessDo (never nested), photos added to a collection only in a later write than the one
that made it, plug-in fields only as Metadata.lua declares them, Info.lua without import or require.
Everything outside Lightroom (HTTP, the shell, files, sleeping) goes to ``host``, supplied by the test. ]]
local Sdk = {}

local function copy(list)
	local out = {}
	for i, v in ipairs(list) do
		out[i] = v
	end
	return out
end

function Sdk.new(host, pluginPath)
	local sdk = { calls = {}, messages = {}, bezels = {}, errors = {}, dialogs = {}, progress = {}, executed = {},
		block = 0, writing = false, prefs = {}, dialog = nil, cancelAfter = nil, busy = false, target = {} }
	local catalog = { photos = {}, keywords = {}, sets = {}, collections = {}, activeSources = nil }
	sdk.catalog = catalog

	local function record(name, detail)
		sdk.calls[#sdk.calls + 1] = { name = name, block = sdk.writing and sdk.block or false, detail = detail }
	end
	local function mustWrite(name)
		if not sdk.writing then
			error('LrCatalog: ' .. name .. ' was called outside withWriteAccessDo', 3)
		end
		record(name)
	end

	-- the plug-in's declared fields (Metadata.lua), as Lightroom reads them
	local declared = {}
	local metadata = loadstring(host.read(pluginPath .. '/Metadata.lua'))()
	for _, field in ipairs(metadata.metadataFieldsForPhotos) do
		declared[field.id] = true
	end

	-- keywords ---------------------------------------------------------------------------------------------------
	local Keyword = {}
	Keyword.__index = Keyword
	function Keyword:getName() return self.name end
	function Keyword:getParent() return self.parent end
	function Keyword:getChildren() return copy(self.children) end
	function Keyword:type() return 'LrKeyword' end

	function catalog:createKeyword(name, synonyms, includeOnExport, parent, returnExisting)
		mustWrite('createKeyword')
		local siblings = parent and parent.children or catalog.keywords
		for _, existing in ipairs(siblings) do
			if existing.name == name and returnExisting then
				return existing
			end
		end
		local keyword = setmetatable({ name = name, parent = parent, children = {}, synonyms = synonyms,
			includeOnExport = includeOnExport }, Keyword)
		siblings[#siblings + 1] = keyword
		return keyword
	end
	function catalog:getKeywords() return copy(catalog.keywords) end

	-- photos -----------------------------------------------------------------------------------------------------
	local Photo = {}
	Photo.__index = Photo
	function Photo:getRawMetadata(key)
		if key == 'path' then return self.path end
		if key == 'keywords' then return copy(self.keywords) end
		if key == 'isVirtualCopy' then return self.virtual or false end
		error('LrPhoto:getRawMetadata: the stand-in does not know ' .. tostring(key), 2)
	end
	function Photo:getFormattedMetadata(key)
		if key == 'fileName' then return (string.match(self.path, '[^/\\]+$')) end
		error('LrPhoto:getFormattedMetadata: the stand-in does not know ' .. tostring(key), 2)
	end
	function Photo:addKeyword(keyword)
		mustWrite('addKeyword')
		for _, k in ipairs(self.keywords) do
			if k == keyword then return end
		end
		self.keywords[#self.keywords + 1] = keyword
	end
	function Photo:removeKeyword(keyword)
		mustWrite('removeKeyword')
		for i, k in ipairs(self.keywords) do
			if k == keyword then
				table.remove(self.keywords, i)
				return
			end
		end
	end
	function Photo:getPropertyForPlugin(plugin, field)
		if plugin ~= sdk.plugin or not declared[field] then
			error('LrPhoto:getPropertyForPlugin: ' .. tostring(field) .. ' is not declared in Metadata.lua', 2)
		end
		return self.props[field]
	end
	function Photo:setPropertyForPlugin(plugin, field, value)
		mustWrite('setPropertyForPlugin')
		if plugin ~= sdk.plugin or not declared[field] then
			error('LrPhoto:setPropertyForPlugin: ' .. tostring(field) .. ' is not declared in Metadata.lua', 2)
		end
		self.props[field] = value
	end

	function sdk.addPhoto(path, keywordPaths, virtual)
		local photo = setmetatable({ path = path, keywords = {}, props = {}, virtual = virtual }, Photo)
		sdk.writing, sdk.block = true, sdk.block + 1
		for _, words in ipairs(keywordPaths or {}) do
			local parent
			for _, name in ipairs(words) do
				parent = catalog:createKeyword(name, {}, true, parent, true)
			end
			photo.keywords[#photo.keywords + 1] = parent
		end
		sdk.writing = false
		sdk.calls = {}
		catalog.photos[#catalog.photos + 1] = photo
		return photo
	end

	function catalog:findPhotoByPath(path)
		for _, photo in ipairs(catalog.photos) do
			if photo.path == path and not photo.virtual then return photo end
		end
		return nil
	end
	function catalog:getTargetPhoto() return sdk.target[1] end
	function catalog:getTargetPhotos() return copy(sdk.target) end

	-- collections ------------------------------------------------------------------------------------------------
	local Collection = {}
	Collection.__index = Collection
	function Collection:getName() return self.name end
	function Collection:getParent() return self.parent end
	function Collection:getPhotos() return copy(self.photos) end
	function Collection:type() return self.kind end
	function Collection:addPhotos(photos)
		mustWrite('addPhotos')
		if self.made == sdk.block then
			error('LrCollection:addPhotos: the collection was made in this same write (Lightroom cannot use it yet)', 2)
		end
		for _, photo in ipairs(photos) do
			local present = false
			for _, p in ipairs(self.photos) do
				present = present or p == photo
			end
			if not present then self.photos[#self.photos + 1] = photo end
		end
	end
	function Collection:removeAllPhotos()
		mustWrite('removeAllPhotos')
		self.photos = {}
	end

	local function make(list, kind, name, parent, canReturnPrior)
		for _, existing in ipairs(list) do
			if existing.name == name and existing.parent == parent then
				if canReturnPrior then return existing end
				return nil
			end
		end
		local made = setmetatable({ name = name, parent = parent, photos = {}, kind = kind, made = sdk.block }, Collection)
		list[#list + 1] = made
		return made
	end
	function catalog:createCollectionSet(name, parent, canReturnPrior)
		mustWrite('createCollectionSet')
		return make(catalog.sets, 'LrCollectionSet', name, parent, canReturnPrior)
	end
	function catalog:createCollection(name, parent, canReturnPrior)
		mustWrite('createCollection')
		return make(catalog.collections, 'LrCollection', name, parent, canReturnPrior)
	end
	function catalog:setActiveSources(sources)
		record('setActiveSources')
		catalog.activeSources = sources
	end

	function catalog:withWriteAccessDo(action, func, params)
		if sdk.writing then
			error('LrCatalog:withWriteAccessDo: called inside another write', 2)
		end
		record('withWriteAccessDo', { action = action, timeout = params and params.timeout })
		if sdk.busy then
			return 'aborted'
		end
		sdk.block = sdk.block + 1
		sdk.writing = true
		local ok, err = pcall(func, {})
		sdk.writing = false
		if not ok then error(err, 0) end
		return 'executed'
	end

	-- the namespaces ---------------------------------------------------------------------------------------------
	local modules = {}
	modules.LrApplication = { activeCatalog = function() return catalog end }
	modules.LrTasks = {
		startAsyncTask = function(func, name)
			record('startAsyncTask', name)
			local ok, err = pcall(func)
			if not ok then sdk.errors[#sdk.errors + 1] = tostring(err) end
		end,
		execute = function(line)
			sdk.executed[#sdk.executed + 1] = line
			return host.execute(line)
		end,
		sleep = function(seconds) host.sleep(seconds) end,
		canYield = function() return true end,
	}
	modules.LrFunctionContext = {
		callWithContext = function(name, func, ...)
			record('callWithContext', name)
			local context = { cleanup = {} }
			function context:addCleanupHandler(handler) self.cleanup[#self.cleanup + 1] = handler end
			function context:addFailureHandler(handler) self.cleanup[#self.cleanup + 1] = handler end
			local ok, err = pcall(func, context, ...)
			for _, handler in ipairs(context.cleanup) do handler(ok, err) end
			if not ok then
				if context.errorDialog then
					sdk.errors[#sdk.errors + 1] = tostring(err) -- Lightroom would show it in an error dialog
				else
					error(err, 0)
				end
			end
		end,
	}
	modules.LrDialogs = {
		message = function(title, text, style)
			sdk.messages[#sdk.messages + 1] = { title = title, text = text, style = style or 'info' }
		end,
		showBezel = function(text) sdk.bezels[#sdk.bezels + 1] = text end,
		attachErrorDialogToFunctionContext = function(context) context.errorDialog = true end,
		presentModalDialog = function(args)
			sdk.dialogs[#sdk.dialogs + 1] = args
			local answer = sdk.dialog or { button = 'cancel' }
			local props = args.contents and args.contents.bind_to_object
			for k, v in pairs(answer.values or {}) do
				props[k] = v
			end
			return answer.button
		end,
	}
	modules.LrBinding = { makePropertyTable = function(context) return {} end }
	modules.LrView = {
		osFactory = function()
			return setmetatable({}, { __index = function(_, kind)
				return function(self, args)
					args = args or {}
					args.kind = kind
					return args
				end
			end })
		end,
		bind = function(key) return { bind = key } end,
	}
	modules.LrProgressScope = setmetatable({}, { __call = function(_, args)
		if not args.functionContext and not args.parent then
			error('LrProgressScope: without a functionContext it outlives a failed task', 2)
		end
		local scope = { title = args.title, portions = {}, captions = {}, checks = 0, finished = false }
		sdk.progress[#sdk.progress + 1] = scope
		function scope:setPortionComplete(done, total) self.portions[#self.portions + 1] = { done, total } end
		function scope:setCaption(text) self.captions[#self.captions + 1] = text end
		function scope:setCancelable(flag) self.cancelable = flag end
		function scope:isCanceled()
			self.checks = self.checks + 1
			return sdk.cancelAfter ~= nil and self.checks > sdk.cancelAfter
		end
		function scope:done() self.finished = true end
		return scope
	end })
	modules.LrPrefs = { prefsForPlugin = function() return sdk.prefs end }
	modules.LrFileUtils = {
		exists = function(path) return host.exists(path) end,
		readFile = function(path) return host.read(path) end,
	}
	modules.LrPathUtils = {
		child = function(folder, name) return folder .. '/' .. name end,
		leafName = function(path) return (string.match(path, '[^/\\]+$')) end,
		getStandardFilePath = function(name)
			if name == 'temp' then return host.temp end
			error('LrPathUtils.getStandardFilePath: the stand-in does not know ' .. tostring(name), 2)
		end,
	}
	local function flatten(headers)
		local out = {}
		for _, header in ipairs(headers or {}) do
			out[#out + 1] = header.field .. ': ' .. header.value
		end
		return out
	end
	local function http(method, url, body, headers, timeout)
		record('LrHttp.' .. method, url)
		local answer = host.http(method, url, body, flatten(headers), timeout)
		if answer.status == nil then
			return nil, { error = { errorCode = 'cannotConnectToHost', name = answer.error } }
		end
		return answer.body, { status = answer.status }
	end
	modules.LrHttp = {
		post = function(url, body, headers, method, timeout) return http(method or 'POST', url, body, headers, timeout) end,
		get = function(url, headers, timeout) return http('GET', url, nil, headers, timeout) end,
	}
	modules.LrLogger = function() return setmetatable({}, { __index = function() return function() end end }) end

	-- the plug-in's environment: what Lightroom gives every plug-in script -------------------------------------
	sdk.plugin = { path = pluginPath, id = 'org.photobrain.lightroom' }
	local env = {}
	local loaded = {}
	for _, name in ipairs({ 'assert', 'error', 'ipairs', 'next', 'pairs', 'pcall', 'select', 'setmetatable',
		'getmetatable', 'tonumber', 'tostring', 'type', 'unpack', 'rawget', 'rawset', 'xpcall', 'string', 'table',
		'math', 'os' }) do
		env[name] = _G[name]
	end
	env._G = env
	env._PLUGIN = sdk.plugin
	env.WIN_ENV, env.MAC_ENV = false, true
	env.LOC = function(text) return (string.gsub(text, '^%$%$%$/[^=]*=', '')) end
	env.import = function(name)
		local module = modules[name]
		if not module then error('import: no SDK namespace ' .. tostring(name), 2) end
		return module
	end
	local function load(name)
		local text = host.read(pluginPath .. '/' .. name)
		if not text then error('no file ' .. name .. ' in the plug-in', 3) end
		local chunk, problem = loadstring(text, '@' .. name)
		if not chunk then error(problem, 0) end
		return setfenv(chunk, env)
	end
	env.require = function(name)
		if loaded[name] == nil then
			loaded[name] = load(name .. '.lua')() or true
		end
		return loaded[name]
	end

	sdk.require = env.require
	sdk.factory = modules.LrView.osFactory

	--- Choose a menu item: Lightroom runs its script.
	function sdk.run(file)
		sdk.calls, sdk.messages, sdk.bezels, sdk.errors, sdk.progress, sdk.executed = {}, {}, {}, {}, {}, {}
		local ok, err = pcall(load(file))
		if not ok then sdk.errors[#sdk.errors + 1] = tostring(err) end
	end

	--- Info.lua as Lightroom reads it: nothing but LOC and the platform flags.
	function sdk.info()
		local chunk = assert(loadstring(host.read(pluginPath .. '/Info.lua'), '@Info.lua'))
		setfenv(chunk, { LOC = env.LOC, WIN_ENV = false, MAC_ENV = true })
		return chunk()
	end

	return sdk
end

return Sdk
