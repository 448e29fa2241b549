--[[ photobrain integrations install: finding and asking photobrain's service from Lightroom.

The service runs on this computer only (127.0.0.1). Its port and token are in the service file beside
photobrain's catalog (<catalog>.service.json, readable by this user only); install wrote the catalog's place
and the photobrain command into photobrain.json in this folder. When no service answers, it is started with
'photobrain serve --start', which waits until it answers. ]]
local LrFileUtils = import 'LrFileUtils'
local LrHttp = import 'LrHttp'
local LrPathUtils = import 'LrPathUtils'
local LrTasks = import 'LrTasks'

local json = require 'dkjson'

local Service = {}
Service.__index = Service

local NOT_SET_UP = "photobrain is not set up for this copy of the plug-in. Install photobrain on this computer, "
	.. "run 'photobrain integrations install lightroom' (it installs this plug-in with photobrain's place), "
	.. "then restart Lightroom."

local function readJson(path)
	if not LrFileUtils.exists(path) then
		return nil
	end
	local text = LrFileUtils.readFile(path)
	if type(text) ~= 'string' then
		return nil
	end
	local ok, value = pcall(json.decode, text)
	if ok and type(value) == 'table' then
		return value
	end
	return nil
end

--- What install wrote: { program = { words... }, catalog = path }, or nil and why not.
function Service.settings()
	local settings = readJson(LrPathUtils.child(_PLUGIN.path, 'photobrain.json'))
	if not settings or type(settings.program) ~= 'table' or type(settings.program[1]) ~= 'string'
			or type(settings.catalog) ~= 'string' then
		return nil, NOT_SET_UP
	end
	if not LrFileUtils.exists(settings.program[1]) then
		return nil, 'photobrain is not installed any more: ' .. settings.program[1] .. ' is gone. Install '
			.. "photobrain again and run 'photobrain integrations install lightroom', then restart Lightroom."
	end
	return settings
end

--- The words of a command line, each quoted for the shell Lightroom's LrTasks.execute runs it with: /bin/sh on
--- macOS, cmd.exe on Windows (file names there hold no double quote).
local function quoted(words, windows)
	local out = {}
	for i, word in ipairs(words) do
		if windows then
			out[i] = '"' .. word .. '"'
		else
			out[i] = "'" .. (string.gsub(word, "'", "'\\''")) .. "'"
		end
	end
	return table.concat(out, ' ')
end

local function open(serviceFile)
	local info = readJson(serviceFile)
	if not info or tonumber(info.port) == nil or type(info.token) ~= 'string' then
		return nil
	end
	return setmetatable({ url = 'http://127.0.0.1:' .. math.floor(tonumber(info.port)), token = info.token }, Service)
end

function Service:headers()
	return {
		{ field = 'Authorization', value = 'Bearer ' .. self.token },
		{ field = 'Content-Type', value = 'application/json' },
	}
end

--- The service's JSON answer to a POST, or nil, the reason, the answer and the HTTP status.
function Service:post(endpoint, payload, timeout)
	local body, headers = LrHttp.post(self.url .. endpoint, json.encode(payload), self:headers(), 'POST',
		timeout or 30)
	local status = type(headers) == 'table' and tonumber(headers.status) or nil
	if type(body) ~= 'string' or status == nil then
		return nil, "photobrain's service stopped answering. Try again; if it keeps failing, run "
			.. "'photobrain serve --status' in a terminal.", nil, nil
	end
	local ok, answer = pcall(json.decode, body)
	if not ok or type(answer) ~= 'table' then
		answer = {}
	end
	if status ~= 200 then
		local reason = answer.error or ('the service answered ' .. status)
		if answer.hint then
			reason = reason .. ' (' .. answer.hint .. ')'
		end
		return nil, reason, answer, status
	end
	return answer
end

function Service:alive()
	local body, headers = LrHttp.get(self.url .. '/status', self:headers(), 5)
	return type(body) == 'string' and type(headers) == 'table' and tonumber(headers.status) == 200
end

--- What a photobrain command said in ``path``: its last error and hint, else its last line.
local function said(path)
	local text = LrFileUtils.exists(path) and LrFileUtils.readFile(path) or ''
	local lines = {}
	for line in string.gmatch(text or '', '[^\r\n]+') do
		if string.find(line, '%S') then
			lines[#lines + 1] = line
		end
	end
	for i = #lines, 1, -1 do
		local reason = string.match(lines[i], '^error: (.*)')
		if reason then
			local hint = lines[i + 1] and string.match(lines[i + 1], '^%s*hint: (.*)')
			return reason .. (hint and (' (' .. hint .. ')') or '')
		end
	end
	return lines[#lines] or ''
end

--- The running service (started when none answers), or nil and a message for the user.
function Service.connect()
	local settings, problem = Service.settings()
	if not settings then
		return nil, problem
	end
	local serviceFile = settings.catalog .. '.service.json'
	local service = open(serviceFile)
	if service and service:alive() then
		return service
	end
	local words = {}
	for i, word in ipairs(settings.program) do
		words[i] = word
	end
	for _, word in ipairs({ 'serve', '--start', '--catalog', settings.catalog }) do
		words[#words + 1] = word
	end
	local output = LrPathUtils.child(LrPathUtils.getStandardFilePath('temp'), 'photobrain-lightroom-start.txt')
	local code = LrTasks.execute(Service.startLine(words, output, WIN_ENV))
	service = open(serviceFile)
	if code == 0 and service and service:alive() then
		return service
	end
	local reason = said(output)
	return nil, "photobrain's service could not start" .. (reason ~= '' and (': ' .. reason .. '.') or '.')
		.. " Run 'photobrain serve' in a terminal to see why."
end

--- The line that starts the service with its output in ``output`` (what it said, for the message). cmd.exe
--- takes the line between an outer pair of quotes as it is.
function Service.startLine(words, output, windows)
	local line = quoted(words, windows) .. ' > ' .. quoted({ output }, windows) .. ' 2>&1'
	if windows then
		return '"' .. line .. '"'
	end
	return line
end

--- The Lightroom photos of the service's hits, in rank order (a hit's duplicates stand in for it when only a
--- copy is in this catalog), and the paths found that are in no photo of this catalog.
function Service.photosOf(catalog, hits)
	local photos, missing, seen = {}, {}, {}
	for _, hit in ipairs(hits or {}) do
		local photo
		for _, path in ipairs({ hit.path, unpack(hit.duplicates or {}) }) do
			photo = catalog:findPhotoByPath(path, false) -- Windows and macOS: names are case-insensitive
			if photo then
				break
			end
		end
		if photo and not seen[photo] then
			seen[photo] = true
			photos[#photos + 1] = photo
		elseif not photo then
			missing[#missing + 1] = hit.path
		end
	end
	return photos, missing
end

return Service
