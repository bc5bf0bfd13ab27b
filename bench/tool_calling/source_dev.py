"""The development set: functions and requests written for tuning (see dsl.py for the vocabulary).

Tune only on this set. Its functions are not used by the test set (source_test.py).
"""

from dsl import A, B, Book, E, I, N, O, S, contains, may_omit, not_with, one_of, unordered

BOOK = Book("dev")

# -- finance: banking and budgets ---------------------------------------------------------------
d = BOOK.domain("finance")
transfer = d.fn("bank.transfer_funds", "Move money between two of the customer's own accounts.",
                from_account=S("Source account id, e.g. CHK-001"), to_account=S("Destination account id"),
                amount=N("Amount in the account currency", exclusiveMinimum=0),
                memo=S("Short note shown on both statements", opt=True))
transfer.ask("Please move 250 dollars from CHK-001 to my savings account SAV-310.",
             {"from_account": "CHK-001", "to_account": "SAV-310", "amount": 250}, "polite")
transfer.ask("transfer 1200.50 SAV-310 -> CHK-001, memo 'rent top-up'",
             {"from_account": "SAV-310", "to_account": "CHK-001", "amount": 1200.5, "memo": "rent top-up"}, "terse")
transfer.ask("Could you shift two thousand from account CHK-778 into BRK-020?",
             {"from_account": "CHK-778", "to_account": "BRK-020", "amount": 2000}, "words polite")

balance = d.fn("getAccountBalance", "Returns balance.",
               accountId=S(), includePending=B("Count pending transactions too", opt=True))
balance.ask("What's the balance on CHK-001?", {"accountId": "CHK-001"})
balance.ask("How much is in SAV-310 if you count the pending transactions as well?",
            {"accountId": "SAV-310", "includePending": True})
balance.ask("I'm about to pay rent and I'm not sure there's enough in CHK-778. Can you check?",
            {"accountId": "CHK-778"}, "indirect")

limit = d.fn("budget.set_category_limit", "Set a monthly spending limit for one budget category.",
             category=E(["groceries", "dining", "transport", "entertainment", "utilities", "shopping"]),
             limit=N("Monthly limit in the budget's currency", minimum=0),
             alert_at_percent=I("Warn when spending reaches this share of the limit (1-100)", opt=True,
                                minimum=1, maximum=100))
limit.ask("Cap my eating out at 300 a month.", {"category": "dining", "limit": 300}, "terse")
limit.ask("Set the groceries budget to 650 and warn me when I hit 80 percent.",
          {"category": "groceries", "limit": 650, "alert_at_percent": 80})
limit.ask("I spend way too much on entertainment - limit it to one hundred and fifty per month please.",
          {"category": "entertainment", "limit": 150}, "words polite")

txns = d.fn("list_transactions", "List card and account transactions, newest first.",
            account_id=S(), start_date=S("YYYY-MM-DD", opt=True), end_date=S("YYYY-MM-DD", opt=True),
            min_amount=N("Only transactions of at least this amount", opt=True),
            limit=I("How many to return (default 20)", opt=True, minimum=1))
txns.ask("Show transactions on CHK-001 from 2025-01-01 to 2025-01-31.",
         {"account_id": "CHK-001", "start_date": "2025-01-01", "end_date": "2025-01-31"})
txns.ask("last 5 transactions for SAV-310", {"account_id": "SAV-310", "limit": 5}, "terse")
txns.ask("Were there any transactions of 500 or more on account CHK-778?",
         {"account_id": "CHK-778", "min_amount": 500})

loan = d.fn("loan_payment_calculator", "Monthly payment of a fixed-rate loan (annuity formula).",
            principal=N("Loan amount"), annual_rate_percent=N("Nominal annual interest rate in percent, e.g. 5.5"),
            years=I("Term in years"))
loan.ask("What would I pay monthly on a 25,000 loan at 6.9% over 5 years?",
         {"principal": 25000, "annual_rate_percent": 6.9, "years": 5})
loan.ask("Mortgage: 320k, 4.25 percent, thirty years. Monthly payment?",
         {"principal": 320000, "annual_rate_percent": 4.25, "years": 30}, "terse words")
loan.ask("My bank offers 18000 for a car at 7.5% a year, paid back over 4 years. How much is that each month?",
         {"principal": 18000, "annual_rate_percent": 7.5, "years": 4}, "indirect")

# -- science: chemistry and physics -------------------------------------------------------------
d = BOOK.domain("science")
molar = d.fn("chem.molar_mass", "Molar mass of a chemical formula in g/mol.",
             formula=S("Chemical formula, e.g. H2SO4"))
molar.ask("molar mass of C6H12O6?", {"formula": "C6H12O6"}, "terse")
molar.ask("How heavy is one mole of sodium chloride (NaCl)?", {"formula": "NaCl"}, "indirect")
molar.ask("Could you work out the molar mass of calcium carbonate, CaCO3?", {"formula": "CaCO3"}, "polite")

dilution = d.fn("chem.dilution_volume", "Volume of stock solution needed for a dilution (C1V1 = C2V2).",
                stock_molarity=N("Stock concentration in mol/L"), target_molarity=N("Wanted concentration in mol/L"),
                target_volume_ml=N("Final volume in millilitres"))
dilution.ask("I need 500 mL of 0.1 M HCl from a 2 M stock. How much stock do I use?",
             {"stock_molarity": 2, "target_molarity": 0.1, "target_volume_ml": 500}, "units")
dilution.ask("Dilute 6 molar NaOH down to 0.5 molar, final volume 250 ml.",
             {"stock_molarity": 6, "target_molarity": 0.5, "target_volume_ml": 250}, "units terse")
dilution.ask("For the lab tomorrow we need one litre of 0.25 M sulfuric acid and the bottle on the shelf is 5 M. "
             "How much of the bottle goes in?",
             {"stock_molarity": 5, "target_molarity": 0.25, "target_volume_ml": 1000}, "units indirect words")

projectile = d.fn("physics.projectile_range", "Horizontal range of a projectile on flat ground, ignoring drag.",
                  speed_m_s=N("Launch speed in m/s"), angle_deg=N("Launch angle in degrees above the horizontal"),
                  gravity_m_s2=N("Gravitational acceleration; 9.81 when left out", opt=True))
projectile.ask("How far does a ball launched at 20 m/s and 45 degrees travel?", {"speed_m_s": 20, "angle_deg": 45})
projectile.ask("Projectile range on the Moon (g = 1.62 m/s^2): 15 m/s at 30 degrees.",
               {"speed_m_s": 15, "angle_deg": 30, "gravity_m_s2": 1.62})
projectile.ask("A cannon fires at sixty degrees with a muzzle speed of 120 m/s. Where does the shell land?",
               {"speed_m_s": 120, "angle_deg": 60}, "words indirect")

kinetic = d.fn("kinetic_energy", None, mass_kg=N(), velocity_m_s=N())
kinetic.ask("Kinetic energy of a 1500 kg car at 27 m/s?", {"mass_kg": 1500, "velocity_m_s": 27})
kinetic.ask("what's the KE of a 0.145 kilogram baseball thrown at 40 metres per second",
            {"mass_kg": 0.145, "velocity_m_s": 40}, "terse")

element = d.fn("periodicTable.lookup", "Look up a chemical element by symbol or name.",
               element=S("Symbol or name"),
               fields=A(E(["atomic_number", "atomic_mass", "electronegativity", "group", "period", "melting_point"]),
                        "Which properties to return; all when left out", opt=True))
element.ask("Tell me the atomic number and atomic mass of tungsten.",
            {"element": one_of("tungsten", "W"), "fields": unordered(["atomic_number", "atomic_mass"])})
element.ask("Look up Fe.", {"element": one_of("Fe", "iron")}, "terse")
element.ask("What's the electronegativity of fluorine?",
            {"element": one_of("fluorine", "F"), "fields": ["electronegativity"]})

# -- travel: hotels, trains, flights ------------------------------------------------------------
d = BOOK.domain("travel")
hotels = d.fn("hotels.search", "Search hotels with rooms available in a city for the given dates.",
              city=S(), check_in=S("YYYY-MM-DD"), check_out=S("YYYY-MM-DD"),
              guests=I("Number of adults (default 2)", opt=True, minimum=1),
              max_price_per_night=N("Upper price limit per night, in EUR", opt=True),
              amenities=A(E(["pool", "gym", "parking", "breakfast", "wifi", "pet_friendly"]), opt=True))
hotels.ask("Find me a hotel in Lisbon from 2025-06-12 to 2025-06-15.",
           {"city": "Lisbon", "check_in": "2025-06-12", "check_out": "2025-06-15"})
hotels.ask("Hotels in Kyoto, check in 2025-10-03, out 2025-10-07, 3 adults, must have breakfast and wifi.",
           {"city": "Kyoto", "check_in": "2025-10-03", "check_out": "2025-10-07", "guests": 3,
            "amenities": unordered(["breakfast", "wifi"])}, "terse")
hotels.ask("We're looking for somewhere in Vienna under 120 euros a night, 2025-12-20 to 2025-12-23, "
           "and we'll need parking for the car.",
           {"city": "Vienna", "check_in": "2025-12-20", "check_out": "2025-12-23", "max_price_per_night": 120,
            "amenities": ["parking"]}, "indirect units")

train = d.fn("book_train_ticket", "Book a rail ticket between two stations.",
             origin=S(), destination=S(), date=S("YYYY-MM-DD"),
             departure_time=S("HH:MM, 24-hour clock", opt=True),
             travel_class=E(["standard", "first"], "Standard unless asked otherwise", opt=True),
             passengers=O("Who travels", adults=I(minimum=1), children=I("Under 12", opt=True)))
train.ask("Book a train from Paris to Lyon on 2025-04-18 for 2 adults.",
          {"origin": "Paris", "destination": "Lyon", "date": "2025-04-18", "passengers": {"adults": 2}})
train.ask("I need first class tickets Munich to Berlin on 2025-05-02 leaving at 08:30, one adult and two kids.",
          {"origin": "Munich", "destination": "Berlin", "date": "2025-05-02", "departure_time": "08:30",
           "travel_class": "first", "passengers": {"adults": 1, "children": 2}})
train.ask("Zurich to Milan on 2025-07-09, just me.",
          {"origin": "Zurich", "destination": "Milan", "date": "2025-07-09", "passengers": {"adults": 1}},
          "terse indirect")

packing = d.fn("trip.packing_list", "Suggest a packing list for a trip.",
               destination=S(), nights=I(minimum=1),
               climate=E(["hot", "mild", "cold"], "Expected weather", opt=True))
packing.ask("Packing list for a week in Dubai in July, it'll be hot.",
            {"destination": "Dubai", "nights": 7, "climate": "hot"}, "words")
packing.ask("Three nights in Oslo in January, what do I bring?",
            {"destination": "Oslo", "nights": 3, "climate": may_omit("cold")}, "words terse")

status = d.fn("flight_status", "Live status of a flight by its number.",
              flight_number=S("IATA flight number like BA283"),
              date=S("YYYY-MM-DD; today when left out", opt=True))
status.ask("Is BA283 on time?", {"flight_number": "BA283"}, "terse")
status.ask("status of LH 400 on 2025-03-09", {"flight_number": one_of("LH400", "LH 400"), "date": "2025-03-09"},
           "terse")
status.ask("My sister is flying in on AF1234 tonight, has it been delayed?", {"flight_number": "AF1234"},
           "indirect")
not_with(status, train)

# -- databases ----------------------------------------------------------------------------------
d = BOOK.domain("databases")
sql = d.fn("sql.run_query", "Run a read-only SQL query on one of the warehouses and return the rows.",
           query=S("A single SELECT statement"), database=E(["analytics", "sales", "support"]),
           max_rows=I("Row limit (default 100)", opt=True, minimum=1))
sql.ask("Run SELECT count(*) FROM orders on the sales database.",
        {"query": one_of("SELECT count(*) FROM orders", "SELECT count(*) FROM orders;"), "database": "sales"})
sql.ask("On analytics, run: SELECT region, SUM(revenue) FROM daily GROUP BY region - only the first 10 rows.",
        {"query": one_of("SELECT region, SUM(revenue) FROM daily GROUP BY region",
                         "SELECT region, SUM(revenue) FROM daily GROUP BY region;"),
         "database": "analytics", "max_rows": 10})
sql.ask("How many tickets are open? The support db has a tickets table with a status column.",
        {"query": contains("SELECT COUNT(*) FROM tickets WHERE status = 'open'", "select", "count", "tickets",
                           "status", "open"),
         "database": "support"}, "indirect")

index = d.fn("db.create_index", "Create an index on a table.",
             table=S(), columns=A(S(), "Column names, in index order", minItems=1),
             unique=B(opt=True), name=S("Index name; generated when left out", opt=True))
index.ask("Create a unique index on users(email).", {"table": "users", "columns": ["email"], "unique": True})
index.ask("index the orders table on customer_id and created_at",
          {"table": "orders", "columns": ["customer_id", "created_at"]}, "terse")
index.ask("Lookups on shipments by tracking_no are slow, please add an index called idx_tracking for them.",
          {"table": "shipments", "columns": ["tracking_no"], "name": "idx_tracking"}, "indirect polite")

kvset = d.fn("kv.set", "Store a value under a key in the cache.",
             key=S(), value=S(), ttl_seconds=I("Expiry in seconds; never expires when left out", opt=True))
kvset.ask("cache the key session:42 with value 'active' for 30 minutes",
          {"key": "session:42", "value": "active", "ttl_seconds": 1800}, "units")
kvset.ask("Set feature_flag.dark_mode to on.", {"key": "feature_flag.dark_mode", "value": "on"})
kvset.ask("Put 'v2.3.1' under latest_version in the cache, expiring in an hour.",
          {"key": "latest_version", "value": "v2.3.1", "ttl_seconds": 3600}, "units words")

backup = d.fn("backupDatabase", "Start a backup",
              dbName=S(), destination=E(["s3", "local", "gcs"]), compress=B(opt=True))
backup.ask("Back up the inventory db to S3 with compression.",
           {"dbName": "inventory", "destination": "s3", "compress": True})
backup.ask("kick off a local backup of billing_prod", {"dbName": "billing_prod", "destination": "local"}, "terse")
backup.ask("Before the migration tonight, could you snapshot crm_main into Google Cloud Storage?",
           {"dbName": "crm_main", "destination": "gcs"}, "indirect polite")

describe = d.fn("db.describe_table", "Show a table's columns, types and indexes.",
                table=S(), schema=S("Schema name (default public)", opt=True))
describe.ask("What columns does the invoices table have?", {"table": "invoices"})
describe.ask("Describe the events table in the audit schema.", {"table": "events", "schema": "audit"})
not_with(sql, describe)

# -- geometry -----------------------------------------------------------------------------------
d = BOOK.domain("geometry")
circle = d.fn("geometry.circle_area", "Area of a circle.",
              radius=N(minimum=0), unit=E(["mm", "cm", "m", "km", "in", "ft"], "Unit of the radius", opt=True))
circle.ask("Area of a circle with a radius of 7 cm?", {"radius": 7, "unit": "cm"})
circle.ask("circle r=2.5, area", {"radius": 2.5}, "terse")
circle.ask("Our round table is 1.2 metres across. How much surface does it have?",
           {"radius": 0.6, "unit": "m"}, "indirect units")

heron = d.fn("triangle_area_heron", "Area of a triangle from its three side lengths (Heron's formula).",
             a=N(), b=N(), c=N())
heron.ask("Triangle with sides 3, 4 and 5: what's its area?", {"a": 3, "b": 4, "c": 5})
heron.ask("What's the area of a triangle whose sides are seven, eight and nine metres long?",
          {"a": 7, "b": 8, "c": 9}, "words units")
heron.ask("sides 10.5 / 6 / 7.25 - area?", {"a": 10.5, "b": 6, "c": 7.25}, "terse")

point = O(x=N(), y=N())
dist = d.fn("geo.distance_between_points", "Euclidean distance between two points in the plane.",
            p1=point, p2=point)
dist.ask("Distance from (1, 2) to (4, 6)?", {"p1": {"x": 1, "y": 2}, "p2": {"x": 4, "y": 6}})
dist.ask("How far apart are the points (-3, 0) and (0, 4)?", {"p1": {"x": -3, "y": 0}, "p2": {"x": 0, "y": 4}})
dist.ask("I'm at x=2.5, y=-1 and the target is at x=7, y=3. How far is it?",
         {"p1": {"x": 2.5, "y": -1}, "p2": {"x": 7, "y": 3}}, "indirect")

perimeter = d.fn("polygonPerimeter", "Perimeter of a polygon given its vertices in order.",
                 vertices=A(O(x=N(), y=N()), minItems=3),
                 closed=B("Join the last vertex back to the first (default true)", opt=True))
perimeter.ask("Perimeter of the polygon with vertices (0,0), (4,0), (4,3), (0,3).",
              {"vertices": [{"x": 0, "y": 0}, {"x": 4, "y": 0}, {"x": 4, "y": 3}, {"x": 0, "y": 3}]})
perimeter.ask("Walk the fence along (0,0) -> (10,0) -> (10,5), don't close it: how long is it?",
              {"vertices": [{"x": 0, "y": 0}, {"x": 10, "y": 0}, {"x": 10, "y": 5}], "closed": False}, "indirect")

scale = d.fn("rectangle.scale", "Scale a rectangle's width and height by a factor.",
             width=N(), height=N(), factor=N(exclusiveMinimum=0))
scale.ask("Scale a 12 by 8 rectangle by 1.5.", {"width": 12, "height": 8, "factor": 1.5})
scale.ask("Shrink a 1920x1080 frame to half size.", {"width": 1920, "height": 1080, "factor": 0.5}, "indirect")
not_with(heron, circle)

# -- sports -------------------------------------------------------------------------------------
d = BOOK.domain("sports")
nba = d.fn("nba.player_stats", "Season averages for an NBA player.",
           player=S("Full name"), season=S("Season like 2023-24"),
           per_mode=E(["per_game", "totals", "per_36"], "Default per_game", opt=True))
nba.ask("How did Nikola Jokic do in the 2022-23 season?",
        {"player": contains("Nikola Jokic", "jokic"), "season": "2022-23"}, "indirect")
nba.ask("Give me Stephen Curry's season totals for 2015-16.",
        {"player": contains("Stephen Curry", "curry"), "season": "2015-16", "per_mode": "totals"})
nba.ask("per-36 numbers, Alperen Sengun, 2023-24", {"player": contains("Alperen Sengun", "sengun"),
                                                     "season": "2023-24", "per_mode": "per_36"}, "terse")

standings = d.fn("league.standings", "Current standings of a football league.",
                 league=E(["premier_league", "la_liga", "bundesliga", "serie_a", "mls"]),
                 top=I("Only the first N teams", opt=True, minimum=1))
standings.ask("Show me the Bundesliga table.", {"league": "bundesliga"})
standings.ask("top 4 in the premier league right now?", {"league": "premier_league", "top": 4}, "terse")
standings.ask("Who's leading Serie A at the moment?", {"league": "serie_a", "top": may_omit(1)}, "indirect")

h2h = d.fn("tennis.head_to_head", "Head-to-head record between two tennis players.",
           player_a=S(), player_b=S(), surface=E(["hard", "clay", "grass"], opt=True))
h2h.ask("What's the head to head between Nadal and Djokovic on clay?",
        {"player_a": contains("Nadal"), "player_b": contains("Djokovic"), "surface": "clay"})
h2h.ask("Iga Swiatek vs Aryna Sabalenka record?",
        {"player_a": contains("Iga Swiatek", "swiatek"), "player_b": contains("Aryna Sabalenka", "sabalenka")},
        "terse")

match = d.fn("scheduleMatch", "Schedule a match on the club calendar.",
             homeTeam=S(), awayTeam=S(), kickoff=S("ISO 8601 date-time, e.g. 2025-01-31T19:45"),
             venue=S(opt=True))
match.ask("Put Riverside FC vs Oak Hill United on the calendar for 2025-09-14 at 15:00.",
          {"homeTeam": "Riverside FC", "awayTeam": "Oak Hill United",
           "kickoff": one_of("2025-09-14T15:00", "2025-09-14T15:00:00")})
match.ask("We host the Harbour Hawks on 2025-10-02 at 19:30, at Eastfield Park. We're Northgate Rovers.",
          {"homeTeam": "Northgate Rovers", "awayTeam": "Harbour Hawks",
           "kickoff": one_of("2025-10-02T19:30", "2025-10-02T19:30:00"), "venue": "Eastfield Park"}, "indirect")

pace = d.fn("marathon_pace", "Pace per kilometre needed to finish a race in a target time.",
            distance_km=N(), target_time=S("H:MM:SS"))
pace.ask("What pace do I need for a sub 3:30:00 marathon?",
         {"distance_km": one_of(42.195, 42.2, 42), "target_time": "3:30:00"}, "indirect")
pace.ask("10 km in 50 minutes - pace?", {"distance_km": 10, "target_time": one_of("0:50:00", "00:50:00")},
         "terse units")

# -- law ----------------------------------------------------------------------------------------
d = BOOK.domain("law")
clause = d.fn("contracts.find_clause", "Find clauses of a given type in a stored contract.",
              contract_id=S(), clause_type=E(["termination", "indemnity", "confidentiality", "governing_law",
                                              "payment_terms"]))
clause.ask("Pull the termination clause from contract CT-2291.",
           {"contract_id": "CT-2291", "clause_type": "termination"})
clause.ask("Which country's law governs agreement CT-0457?",
           {"contract_id": "CT-0457", "clause_type": "governing_law"}, "indirect")
clause.ask("What does CT-1180 say about keeping things secret?",
           {"contract_id": "CT-1180", "clause_type": "confidentiality"}, "indirect")

deadline = d.fn("legal.deadline_calculator", "Compute a filing deadline from a trigger date.",
                trigger_date=S("YYYY-MM-DD"), days=I(minimum=1),
                business_days_only=B("Skip weekends and court holidays", opt=True),
                jurisdiction=S(opt=True))
deadline.ask("The complaint was served on 2025-02-03. When is 21 days after that?",
             {"trigger_date": "2025-02-03", "days": 21})
deadline.ask("30 business days from 2025-06-30", {"trigger_date": "2025-06-30", "days": 30,
                                                  "business_days_only": True}, "terse")
deadline.ask("Judgment entered 2025-11-12; we have fourteen days to appeal in Ontario. What's the date?",
             {"trigger_date": "2025-11-12", "days": 14, "jurisdiction": "Ontario"}, "words")

# -- cooking ------------------------------------------------------------------------------------
d = BOOK.domain("cooking")
recipes = d.fn("recipes.search", "Find recipes by ingredients or dish name.",
               query=S(), diet=E(["vegetarian", "vegan", "gluten_free", "keto"], opt=True),
               max_minutes=I("Total time limit", opt=True))
recipes.ask("Find a vegan curry recipe that takes at most 30 minutes.",
            {"query": contains("curry"), "diet": "vegan", "max_minutes": 30})
recipes.ask("recipes with chickpeas and spinach", {"query": contains("chickpeas and spinach", "chickpea", "spinach")},
            "terse")
recipes.ask("My friend is coeliac and coming for dinner. Any ideas for a risotto?",
            {"query": contains("risotto"), "diet": "gluten_free"}, "indirect")

cunits = d.fn("convert_cooking_units", "Convert a kitchen quantity between units.",
              amount=N(), from_unit=E(["cup", "tbsp", "tsp", "ml", "g", "oz", "lb"]),
              to_unit=E(["cup", "tbsp", "tsp", "ml", "g", "oz", "lb"]),
              ingredient=S("Needed for volume-to-weight conversions", opt=True))
cunits.ask("How many ml is 2 cups?", {"amount": 2, "from_unit": "cup", "to_unit": "ml"})
cunits.ask("Convert 1.5 cups of flour to grams.",
           {"amount": 1.5, "from_unit": "cup", "to_unit": "g", "ingredient": "flour"})
cunits.ask("three tablespoons is how many teaspoons?", {"amount": 3, "from_unit": "tbsp", "to_unit": "tsp"},
           "words terse")

ktimer = d.fn("kitchenTimer.start", "Start a named kitchen timer.", label=S(), minutes=N(exclusiveMinimum=0))
ktimer.ask("Timer for the eggs, 7 minutes.", {"label": contains("eggs"), "minutes": 7}, "terse")
ktimer.ask("start a timer called pasta for twelve minutes", {"label": "pasta", "minutes": 12}, "words")
ktimer.ask("The bread needs to rest for an hour and a half, can you time it?",
           {"label": contains("bread"), "minutes": 90}, "indirect units")

rscale = d.fn("scale_recipe", "Scale a saved recipe to a different number of servings.",
              recipe_id=S(), servings=I(minimum=1))
rscale.ask("Scale recipe R-118 to 10 servings.", {"recipe_id": "R-118", "servings": 10})
rscale.ask("I'm cooking the lasagne (recipe R-204) for 6 people instead of 4.",
           {"recipe_id": "R-204", "servings": 6}, "indirect")

# -- devices: smart home ------------------------------------------------------------------------
d = BOOK.domain("devices")
blinds = d.fn("home.blinds.set_position", "Open or close motorised blinds.",
              room=S(), position_percent=I("0 = closed, 100 = fully open", minimum=0, maximum=100))
blinds.ask("Open the living room blinds halfway.", {"room": "living room", "position_percent": 50})
blinds.ask("Close the bedroom blinds completely.", {"room": "bedroom", "position_percent": 0})
blinds.ask("The sun is glaring on my screen in the office, bring the blinds down to a quarter open.",
           {"room": "office", "position_percent": 25}, "indirect")

vacuum = d.fn("vacuum_start_cleaning", "Send the robot vacuum to clean.",
              rooms=A(S(), "Rooms to clean; the whole home when left out", opt=True),
              mode=E(["quiet", "standard", "turbo"], opt=True))
vacuum.ask("Vacuum the kitchen and the hallway on turbo.",
           {"rooms": unordered(["kitchen", "hallway"]), "mode": "turbo"})
vacuum.ask("Start the robot vacuum.", {}, "terse")
vacuum.ask("Guests are arriving soon, can the robot do the living room quietly? The baby is asleep.",
           {"rooms": ["living room"], "mode": "quiet"}, "indirect")

volume = d.fn("speaker.setVolume", "Set a smart speaker's volume.",
              device=S("Speaker name"), level=I(minimum=0, maximum=100))
volume.ask("Turn the kitchen speaker to 35.", {"device": contains("kitchen"), "level": 35})
volume.ask("mute the bathroom speaker", {"device": contains("bathroom"), "level": 0}, "terse indirect")

sched = d.fn("thermostat.schedule", "Program the heating schedule for one day of the week.",
             day=E(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
             periods=A(O(start=S("HH:MM"), end=S("HH:MM"), target_celsius=N())))
sched.ask("On Saturday heat to 21 C from 07:00 to 10:00 and to 19 C from 18:00 to 23:00.",
          {"day": "sat", "periods": [{"start": "07:00", "end": "10:00", "target_celsius": 21},
                                     {"start": "18:00", "end": "23:00", "target_celsius": 19}]}, "units")
sched.ask("Monday: 20 degrees between 06:30 and 08:30.",
          {"day": "mon", "periods": [{"start": "06:30", "end": "08:30", "target_celsius": 20}]}, "terse units")

lock = d.fn("lock_door", "Lock or unlock a smart lock.",
            door=E(["front", "back", "garage"]), action=E(["lock", "unlock"]))
lock.ask("lock the front door", {"door": "front", "action": "lock"}, "terse")
lock.ask("Can you let the dog walker in through the back door?", {"door": "back", "action": "unlock"}, "indirect")
lock.ask("I think I left the garage open when I drove off, please secure it.",
         {"door": "garage", "action": "lock"}, "indirect polite")

# -- weather ------------------------------------------------------------------------------------
d = BOOK.domain("weather")
aqi = d.fn("air_quality.current", "Current air quality index (AQI) and main pollutant for a city.",
           city=S(), pollutants=A(E(["pm25", "pm10", "o3", "no2", "so2", "co"]),
                                  "Also return these concentrations", opt=True))
aqi.ask("How's the air in Delhi today?", {"city": "Delhi"}, "indirect")
aqi.ask("PM2.5 and ozone levels in Los Angeles right now?",
        {"city": "Los Angeles", "pollutants": unordered(["pm25", "o3"])})
aqi.ask("Is it safe to go jogging in Beijing this morning or is the air bad?", {"city": "Beijing"}, "indirect")

pollen = d.fn("pollenForecast", "Pollen forecast.",
              location=S(), days=I(opt=True, minimum=1, maximum=5),
              types=A(E(["tree", "grass", "weed"]), opt=True))
pollen.ask("Pollen for the next 3 days in Denver", {"location": "Denver", "days": 3}, "terse")
pollen.ask("Is grass pollen high in Leeds?", {"location": "Leeds", "types": ["grass"]})
pollen.ask("My hay fever is killing me. What's the pollen like in Toronto for the next five days?",
           {"location": "Toronto", "days": 5}, "words indirect")

tides = d.fn("tides.get_times", "High and low tide times for a coastal station.",
             station=S(), date=S("YYYY-MM-DD"))
tides.ask("When is high tide at Brighton on 2025-08-02?", {"station": "Brighton", "date": "2025-08-02"})
tides.ask("tide times, St Ives, 2025-07-19", {"station": "St Ives", "date": "2025-07-19"}, "terse")

hourly = d.fn("weather.forecast_hourly", "Hourly forecast for a pair of coordinates.",
              lat=N(minimum=-90, maximum=90), lon=N(minimum=-180, maximum=180),
              hours=I("Default 24", opt=True, minimum=1, maximum=72),
              units=E(["metric", "imperial"], opt=True))
hourly.ask("Hourly forecast for 48.85, 2.35 for the next 12 hours in imperial units.",
           {"lat": 48.85, "lon": 2.35, "hours": 12, "units": "imperial"})
hourly.ask("I'm camping at latitude 46.55, longitude 7.98. What will the weather do hour by hour?",
           {"lat": 46.55, "lon": 7.98}, "indirect")
hourly.ask("forecast lat -33.87 lon 151.21, next two days, metric",
           {"lat": -33.87, "lon": 151.21, "hours": 48, "units": "metric"}, "terse words")

# -- messaging ----------------------------------------------------------------------------------
d = BOOK.domain("messaging")
slack = d.fn("slack.post_message", "Post a message to a Slack channel.",
             channel=S("Channel name without the #"), text=S(),
             thread_ts=S("Reply in this thread", opt=True))
slack.ask("Post 'deploy finished' in #releases.", {"channel": "releases", "text": contains("deploy finished")})
slack.ask("Tell the random channel that lunch is here.", {"channel": "random", "text": contains("lunch")},
          "indirect")
slack.ask("Reply in thread 1712345678.000100 on #incidents: 'rollback complete'",
          {"channel": "incidents", "text": contains("rollback complete"), "thread_ts": "1712345678.000100"})

sms = d.fn("sms.send", "Send a text message.", to=S("E.164 phone number"), body=S())
sms.ask("Text +14155550123: running 10 minutes late",
        {"to": "+14155550123", "body": contains("running 10 minutes late")}, "terse")
sms.ask("Please send a message to +447700900123 saying the keys are under the mat.",
        {"to": "+447700900123", "body": contains("keys are under the mat")}, "polite")

msearch = d.fn("messages.search", "Search the user's messages.",
               query=S(), sender=S(opt=True), after=S("YYYY-MM-DD", opt=True), has_attachment=B(opt=True))
msearch.ask("Find messages from Priya about the budget.", {"query": contains("budget"), "sender": "Priya"})
msearch.ask("search my messages for invoices with attachments since 2025-01-15",
            {"query": contains("invoice"), "after": "2025-01-15", "has_attachment": True}, "terse")
msearch.ask("Somebody sent me a link to a hiking map, I can't remember who. Can you dig it up?",
            {"query": contains("hiking map", "hiking")}, "indirect")

group = d.fn("createGroupChat", "Create a group conversation.", title=S(), members=A(S(), minItems=2))
group.ask("Make a group chat called Book Club with ana@x.io, ben@x.io and chen@x.io.",
          {"title": "Book Club", "members": unordered(["ana@x.io", "ben@x.io", "chen@x.io"])})
group.ask("new group 'Ski trip 2026' - me@x.io, jo@x.io",
          {"title": "Ski trip 2026", "members": unordered(["me@x.io", "jo@x.io"])}, "terse")
not_with(slack, sms)

# -- e-commerce ---------------------------------------------------------------------------------
d = BOOK.domain("ecommerce")
cart = d.fn("cart.add_item", "Add a product to the shopping cart.",
            sku=S(), quantity=I(minimum=1), gift_wrap=B(opt=True))
cart.ask("Add two of SKU 88-4410 to my cart.", {"sku": "88-4410", "quantity": 2}, "words")
cart.ask("put one TX-55 in the cart, gift wrapped", {"sku": "TX-55", "quantity": 1, "gift_wrap": True},
         "terse")
cart.ask("I'll take 3 of the KB-900 keyboards.", {"sku": "KB-900", "quantity": 3}, "indirect")

track = d.fn("orders.track", "Track an order's shipping status.", order_id=S())
track.ask("Where's my order #A10492?", {"order_id": one_of("A10492", "#A10492")})
track.ask("It's been 2 weeks and order B-77120 still hasn't arrived!", {"order_id": "B-77120"}, "indirect")

psearch = d.fn("product_search", "Search the catalog.",
               query=S(), category=E(["electronics", "home", "clothing", "toys", "books", "sports"]),
               price_range=O(opt=True, min=N(opt=True), max=N(opt=True)),
               sort=E(["relevance", "price_asc", "price_desc", "rating"], opt=True))
psearch.ask("Find wireless earbuds under $80, cheapest first.",
            {"query": contains("wireless earbuds", "earbuds"), "category": "electronics",
             "price_range": {"max": 80}, "sort": "price_asc"})
psearch.ask("Show me board games between 20 and 40 dollars.",
            {"query": contains("board games", "board game"), "category": "toys",
             "price_range": {"min": 20, "max": 40}})
psearch.ask("best rated yoga mats", {"query": contains("yoga mat"), "category": "sports", "sort": "rating"},
            "terse")

coupon = d.fn("applyCoupon", "Apply a promotion code to the cart.", code=S())
coupon.ask("Use coupon SPRING25.", {"code": "SPRING25"}, "terse")
coupon.ask("My friend gave me the code WELCOME-10, does it work on this order?", {"code": "WELCOME-10"},
           "indirect")

returns = d.fn("returns.create", "Start a return for items of an order.",
               order_id=S(), items=A(O(sku=S(), quantity=I(minimum=1)), minItems=1),
               reason=E(["damaged", "wrong_item", "not_as_described", "changed_mind"]))
returns.ask("I want to return 1 of BL-200 from order A10492, it arrived broken.",
            {"order_id": "A10492", "items": [{"sku": "BL-200", "quantity": 1}], "reason": "damaged"})
returns.ask("Order C-3001: send back two SH-41 and one SH-42, I just don't want them anymore.",
            {"order_id": "C-3001", "items": unordered([{"sku": "SH-41", "quantity": 2},
                                                       {"sku": "SH-42", "quantity": 1}]),
             "reason": "changed_mind"}, "words")
not_with(track, returns)

# -- HR -----------------------------------------------------------------------------------------
d = BOOK.domain("hr")
leave = d.fn("hr.request_leave", "Request time off for an employee.",
             employee_id=S(), start_date=S("YYYY-MM-DD"), end_date=S("YYYY-MM-DD"),
             type=E(["vacation", "sick", "parental", "unpaid"]), note=S(opt=True))
leave.ask("Book vacation for E-1042 from 2025-08-11 to 2025-08-22.",
          {"employee_id": "E-1042", "start_date": "2025-08-11", "end_date": "2025-08-22", "type": "vacation"})
leave.ask("E-2210 is out sick 2025-02-17 through 2025-02-18.",
          {"employee_id": "E-2210", "start_date": "2025-02-17", "end_date": "2025-02-18", "type": "sick"}, "terse")

payslip = d.fn("getPayslip", "Fetch an employee's payslip for one month.",
               employeeId=S(), month=S("YYYY-MM"))
payslip.ask("Get me the payslip of E-1042 for March 2025.", {"employeeId": "E-1042", "month": "2025-03"})
payslip.ask("I need my November 2024 pay slip for the mortgage application, I'm E-3307.",
            {"employeeId": "E-3307", "month": "2024-11"}, "indirect")

manager = d.fn("org.find_manager", "Who an employee reports to.", employee_name=S())
manager.ask("Who is Dana Whitfield's manager?", {"employee_name": "Dana Whitfield"})
manager.ask("who does raj patel report to", {"employee_name": "Raj Patel"}, "terse")

# -- media --------------------------------------------------------------------------------------
d = BOOK.domain("media")
podcasts = d.fn("podcasts.search_episodes", "Search podcast episodes.",
                query=S(), max_duration_min=I(opt=True), language=S("ISO 639-1 code", opt=True))
podcasts.ask("Find podcast episodes about sleep science shorter than 30 minutes.",
             {"query": contains("sleep"), "max_duration_min": 30})
podcasts.ask("Spanish-language podcast episodes on personal finance, please.",
             {"query": contains("personal finance", "finance"), "language": "es"}, "polite")

playlist = d.fn("playlist.create", "Create a playlist with tracks in the given order.",
                name=S(), track_ids=A(S()), public=B("Default false", opt=True))
playlist.ask("Make a public playlist 'Road Trip' with tracks t-101, t-205 and t-309.",
             {"name": "Road Trip", "track_ids": ["t-101", "t-205", "t-309"], "public": True})
playlist.ask("new playlist Focus: t-9, t-12", {"name": "Focus", "track_ids": ["t-9", "t-12"]}, "terse")

# -- productivity -------------------------------------------------------------------------------
d = BOOK.domain("productivity")
task = d.fn("tasks.create", "Create a to-do item.",
            title=S(), due=S("YYYY-MM-DD", opt=True), priority=E(["low", "normal", "high", "urgent"], opt=True),
            labels=A(S(), opt=True))
task.ask("Add a task: renew passport, due 2025-05-30, high priority.",
         {"title": contains("renew passport"), "due": "2025-05-30", "priority": "high"})
task.ask("todo: water the plants", {"title": contains("water the plants")}, "terse")
task.ask("Remind me with a task to file the expense report, label it work and finance.",
         {"title": contains("expense report"), "labels": unordered(["work", "finance"])}, "indirect")

note = d.fn("notes.append", "Append text to an existing note.", note_title=S(), text=S())
note.ask("Add 'buy batteries' to my Shopping note.", {"note_title": "Shopping", "text": contains("buy batteries")})
note.ask("In the note called Ideas, jot down: podcast about local history",
         {"note_title": "Ideas", "text": contains("podcast about local history")})

slot = d.fn("calendar.find_free_slot", "Find a time when all attendees are free.",
            attendees=A(S("Email address")), duration_minutes=I(minimum=5),
            window=O("Search between these ISO 8601 date-times", start=S(), end=S()))
slot.ask("Find a 45 minute slot when lea@corp.com and sam@corp.com are both free between 2025-03-10T09:00 "
         "and 2025-03-10T17:00.",
         {"attendees": unordered(["lea@corp.com", "sam@corp.com"]), "duration_minutes": 45,
          "window": {"start": one_of("2025-03-10T09:00", "2025-03-10T09:00:00"),
                     "end": one_of("2025-03-10T17:00", "2025-03-10T17:00:00")}})
slot.ask("I need an hour with kim@corp.com sometime between 2025-04-02T13:00 and 2025-04-04T18:00.",
         {"attendees": ["kim@corp.com"], "duration_minutes": 60,
          "window": {"start": one_of("2025-04-02T13:00", "2025-04-02T13:00:00"),
                     "end": one_of("2025-04-04T18:00", "2025-04-04T18:00:00")}}, "units indirect")

# -- maps and transit ---------------------------------------------------------------------------
d = BOOK.domain("maps")
departures = d.fn("transit.next_departures", "Next departures from a public-transport stop.",
                  stop=S(), line=S(opt=True), limit=I(opt=True))
departures.ask("When's the next 14 bus from Market Street?", {"stop": "Market Street", "line": "14"})
departures.ask("next three departures from Central Station", {"stop": "Central Station", "limit": 3},
               "terse words")

geocode = d.fn("geocode", "Turn an address into coordinates.", address=S())
geocode.ask("Coordinates of 1600 Amphitheatre Parkway, Mountain View?",
            {"address": contains("1600 Amphitheatre Parkway, Mountain View", "1600 amphitheatre parkway")})
geocode.ask("Where exactly on the map is 221B Baker Street, London?",
            {"address": contains("221B Baker Street, London", "221b baker street")}, "indirect")

# -- IT operations ------------------------------------------------------------------------------
d = BOOK.domain("itops")
restart = d.fn("servers.restart", "Restart a service on a host.",
               host=S(), service=S(), graceful=B("Drain connections first", opt=True))
restart.ask("restart nginx on web-03", {"host": "web-03", "service": "nginx"}, "terse")
restart.ask("Gracefully restart the api service on app-eu-1, we can't drop connections.",
            {"host": "app-eu-1", "service": "api", "graceful": True})

dns = d.fn("dns.lookup", "Resolve DNS records of a domain.",
           domain=S(), record_type=E(["A", "AAAA", "MX", "TXT", "CNAME", "NS"]))
dns.ask("What are the MX records for example.org?", {"domain": "example.org", "record_type": "MX"})
dns.ask("check the TXT record of mail.acme.io", {"domain": "mail.acme.io", "record_type": "TXT"}, "terse")
dns.ask("Which IPv6 address does cupola.dev resolve to?", {"domain": "cupola.dev", "record_type": "AAAA"},
        "indirect")

alert = d.fn("createAlertRule", "Alert when a metric crosses a threshold.",
             metric=S(), comparator=E([">", "<", ">=", "<="]), threshold=N(),
             duration_minutes=I("How long the condition must hold", opt=True),
             notify=A(S("Email address"), opt=True))
alert.ask("Alert me if cpu_usage goes above 90 for 5 minutes.",
          {"metric": "cpu_usage", "comparator": ">", "threshold": 90, "duration_minutes": 5})
alert.ask("Create an alert: disk_free_gb < 10, notify ops@corp.com and sre@corp.com",
          {"metric": "disk_free_gb", "comparator": "<", "threshold": 10,
           "notify": unordered(["ops@corp.com", "sre@corp.com"])}, "terse")

logs = d.fn("logs.query", "Search application logs.",
            service=S(), level=E(["debug", "info", "warning", "error"], "Minimum level", opt=True),
            since_minutes=I(opt=True), text=S("Substring to look for", opt=True))
logs.ask("Show me errors from the checkout service in the last 15 minutes.",
         {"service": "checkout", "level": "error", "since_minutes": 15})
logs.ask("grep the payment logs for 'timeout'", {"service": "payment", "text": "timeout"}, "terse")
logs.ask("Something broke in auth about two hours ago. Pull its warnings and worse from the last 180 minutes.",
         {"service": "auth", "level": "warning", "since_minutes": 180}, "indirect")

# -- files --------------------------------------------------------------------------------------
d = BOOK.domain("files")
share = d.fn("files.share", "Share a file with people.",
             path=S(), emails=A(S(), minItems=1), permission=E(["view", "comment", "edit"]))
share.ask("Share /reports/q3.pdf with dan@x.io, view only.",
          {"path": "/reports/q3.pdf", "emails": ["dan@x.io"], "permission": "view"})
share.ask("Let mia@x.io and lou@x.io edit /docs/plan.docx.",
          {"path": "/docs/plan.docx", "emails": unordered(["mia@x.io", "lou@x.io"]), "permission": "edit"})
share.ask("The designers need to leave notes on /design/logo-v4.png - that's ivy@x.io.",
          {"path": "/design/logo-v4.png", "emails": ["ivy@x.io"], "permission": "comment"}, "indirect")

compress = d.fn("compressFolder", None, folderPath=S(), format=E(["zip", "tar.gz"], opt=True))
compress.ask("Zip up the folder /home/ana/photos.", {"folderPath": "/home/ana/photos", "format": may_omit("zip")})
compress.ask("make a tar.gz of ~/projects/site", {"folderPath": "~/projects/site", "format": "tar.gz"}, "terse")

# -- gardening ----------------------------------------------------------------------------------
d = BOOK.domain("gardening")
water = d.fn("garden.watering_schedule", "Suggest how often to water a plant.",
             plant=S(), climate=E(["arid", "temperate", "tropical"]), container=B("Grown in a pot", opt=True))
water.ask("How often should I water tomatoes in a temperate climate?",
          {"plant": contains("tomato"), "climate": "temperate"})
water.ask("I've got a potted fig tree and I live somewhere very dry. Watering schedule?",
          {"plant": contains("fig"), "climate": "arid", "container": True}, "indirect")

ph = d.fn("soil_ph_advice", "What to add to soil to reach a target pH.",
          current_ph=N(minimum=0, maximum=14), target_ph=N(minimum=0, maximum=14),
          soil_type=E(["clay", "sandy", "loam"], opt=True))
ph.ask("My soil is pH 7.8 and blueberries want 5.0. What should I add?", {"current_ph": 7.8, "target_ph": 5})
ph.ask("Clay soil, pH 5.5, want 6.5.", {"current_ph": 5.5, "target_ph": 6.5, "soil_type": "clay"}, "terse")

# -- fitness ------------------------------------------------------------------------------------
d = BOOK.domain("fitness")
workout = d.fn("fitness.log_workout", "Log a workout session.",
               activity=E(["run", "cycle", "swim", "walk", "strength", "yoga"]), duration_min=N(),
               distance_km=N(opt=True), calories=I(opt=True))
workout.ask("Log a 45-minute run, 8.2 km.", {"activity": "run", "duration_min": 45, "distance_km": 8.2}, "units")
workout.ask("I swam for half an hour today, log it.", {"activity": "swim", "duration_min": 30}, "words units")
workout.ask("record yoga 60 min 250 kcal", {"activity": "yoga", "duration_min": 60, "calories": 250}, "terse units")

zones = d.fn("heartRateZones", "Training heart-rate zones from age and resting heart rate.",
             age=I(minimum=10, maximum=100), resting_bpm=I(opt=True))
zones.ask("What are my heart rate zones? I'm 34.", {"age": 34})
zones.ask("Zones for a 52 year old with a resting heart rate of 58 bpm.", {"age": 52, "resting_bpm": 58},
          "units")

# -- automotive ---------------------------------------------------------------------------------
d = BOOK.domain("automotive")
fuel = d.fn("car.fuel_cost", "Fuel cost of a trip.",
            distance_km=N(), consumption_l_per_100km=N(), price_per_liter=N())
fuel.ask("How much fuel money for 420 km at 6.5 L/100km with petrol at 1.89 a litre?",
         {"distance_km": 420, "consumption_l_per_100km": 6.5, "price_per_liter": 1.89}, "units")
fuel.ask("Road trip of 1,150 km, my car does 7.2 litres per hundred km and fuel is 1.75. What will it cost?",
         {"distance_km": 1150, "consumption_l_per_100km": 7.2, "price_per_liter": 1.75}, "units words")

chargers = d.fn("ev.find_chargers", "Find EV charging stations near a point.",
                lat=N(), lon=N(), radius_km=N("Default 5", opt=True),
                connector=E(["ccs", "chademo", "type2", "nacs"], opt=True), min_power_kw=N(opt=True))
chargers.ask("Find CCS chargers of at least 150 kW within 10 km of 52.52, 13.40.",
             {"lat": 52.52, "lon": 13.4, "radius_km": 10, "connector": "ccs", "min_power_kw": 150}, "units")
chargers.ask("any chargers around 40.71, -74.01?", {"lat": 40.71, "lon": -74.01}, "terse")

# -- requests that need the conversation --------------------------------------------------------
balance.ask("what's in my checking? it's CHK-5521", {"accountId": "CHK-5521"}, "terse",
            system="You are the assistant of Harbor Bank. Be brief and precise.")
hotels.ask("OK, find me a hotel there from 2025-05-01 to 2025-05-04.",
           {"city": "Porto", "check_in": "2025-05-01", "check_out": "2025-05-04"},
           history=[{"role": "user", "content": "I'm thinking about a long weekend in Porto."},
                    {"role": "assistant", "content": "Porto is lovely in spring: the Ribeira, port cellars, "
                                                     "and the Livraria Lello."}])
task.ask("Yes, add that as a task for 2025-06-01.", {"title": contains("dentist"), "due": "2025-06-01"},
         history=[{"role": "user", "content": "I keep forgetting to book the dentist."},
                  {"role": "assistant", "content": "Want me to add 'book the dentist' to your to-do list?"}])
cunits.ask("And in grams, for sugar?", {"amount": 2, "from_unit": "cup", "to_unit": "g", "ingredient": "sugar"},
           history=[{"role": "user", "content": "The recipe says 2 cups of sugar, that's a lot."},
                    {"role": "assistant", "content": "It is quite sweet; you could reduce it a little."}])
logs.ask("check the search service logs for 'OOM'", {"service": "search", "text": "OOM"}, "terse",
         system="You are an on-call assistant for the platform team. Use the tools when they help.")
dns.ask("Same thing for the NS records please.", {"domain": "example.org", "record_type": "NS"}, "polite",
        history=[{"role": "user", "content": "I'm moving example.org to a new registrar."},
                 {"role": "assistant", "content": "Good idea to note the current records first."}])

# -- no call: small talk and questions none of the tools answers --------------------------------
nc = BOOK.no_call
nc("hey, what's up?", tags="small_talk")
nc("thanks so much, that's all for now", tags="small_talk")
nc("Good evening! Hope your day went well.", tags="small_talk")
nc("You're surprisingly helpful for a computer.", tags="small_talk")
nc("lol ok", tags="small_talk terse")
nc("Who made you?", tags="small_talk")
nc("Can you tell me a joke about programmers?", tags="small_talk")
nc("I'm nervous about my job interview tomorrow.", tags="small_talk")
nc("Sorry, I typed that wrong. Ignore my last message.", tags="small_talk")
nc("Please answer in French from now on.", tags="small_talk")
nc("What can you do?", tags="small_talk")
nc("brb", tags="small_talk terse")
nc("Can you explain what compound interest is?", [loan, balance], "near_miss")
nc("Is it better to pay off debt or save first? Just your general opinion.", [transfer, limit, txns], "near_miss")
nc("Why do onions make you cry?", [recipes, cunits], "near_miss")
nc("What's the difference between baking soda and baking powder?", [cunits, rscale, ktimer], "near_miss")
nc("Who won the 2010 World Cup?", [standings, nba], "near_miss")
nc("How long is a tennis match usually?", [h2h, match], "near_miss")
nc("What's the difference between a hotel and a hostel?", [hotels], "near_miss")
nc("Any tips for beating jet lag?", [status, packing, hotels], "near_miss")
nc("Write a haiku about autumn rain.", [hourly, pollen], "near_miss")
nc("Why is the sky blue?", [aqi, tides], "near_miss")
nc("What is a primary key in a database?", [describe, sql], "near_miss")
nc("Explain the difference between SQL and NoSQL in two sentences.", [sql, kvset, index], "near_miss")
nc("How does a heat pump work?", [sched], "near_miss")
nc("What is the Pythagorean theorem?", [heron, dist], "near_miss")
nc("Why is pi irrational?", [circle, scale], "near_miss")
nc("What does a paralegal do?", [clause, deadline], "near_miss")
nc("Explain Newton's second law simply.", [projectile, kinetic], "near_miss")
nc("What's the most abundant element in the universe?", [molar, dilution], "near_miss")
nc("What does HR stand for?", [manager, payslip], "near_miss")
nc("How do I write a polite out-of-office reply?", [leave, manager], "near_miss")
nc("What's a good name for a cat?", [cart, track, coupon], "off_topic")
nc("Recommend a podcast genre for a long drive - just talk me through it.", [playlist], "near_miss")
nc("How do I become more productive in the mornings?", [task, note], "near_miss")
nc("What's the capital of Australia?", [departures, sms], "off_topic")
nc("Translate 'good luck' into Italian.", [slack, group], "off_topic")
nc("What is 15 percent of 80?", [circle, payslip], "off_topic")
nc("Summarize the plot of Hamlet in one sentence.", [recipes, hotels, sms], "off_topic")
nc("How many legs does a spider have?", [vacuum, volume], "off_topic")
nc("Good morning! Before we start: how are you?", tags="small_talk",
   system="You are the assistant of Harbor Bank. Help customers with their accounts.")
nc("Thanks, that's perfect.", tags="small_talk history",
   history=[{"role": "user", "content": "What's a good way to keep basil fresh?"},
            {"role": "assistant", "content": "Keep it like cut flowers: stems in a glass of water, on the counter."}])

# ===============================================================================================
# Added part "2025-extra": everyday APIs in new domains (one function: `single`; other requests
# name their category and get near-miss candidates from the build). Cases are numbered after the
# ones above, which the part leaves unchanged.
# ===============================================================================================
BOOK.part("2025-extra")
C2, C5 = "choice_2_4", "choice_5plus"

# -- statistics ---------------------------------------------------------------------------------
d = BOOK.domain("statistics")
stdev = d.fn("stats.standard_deviation", "Standard deviation of a list of numbers.",
             values=A(N(), minItems=2),
             sample=B("Use the sample (n-1) formula instead of the population one", opt=True))
stdev.ask("What's the standard deviation of 4, 8, 15, 16, 23 and 42?", {"values": [4, 8, 15, 16, 23, 42]})
stdev.ask("sample std dev: 2.5, 3.1, 2.9, 3.4", {"values": [2.5, 3.1, 2.9, 3.4], "sample": True}, "terse")
stdev.ask("My five test scores were 78, 85, 92, 88 and 70. How spread out are they? Treat them as a sample.",
          {"values": [78, 85, 92, 88, 70], "sample": True}, "indirect", category=C2)

ci = d.fn("confidenceInterval", "Confidence interval for a population mean.",
          sampleMean=N(), stdDev=N("Sample standard deviation", minimum=0), sampleSize=I(minimum=2),
          confidencePercent=E([90, 95, 99], "Default 95", opt=True))
ci.ask("Give me the 95% confidence interval for a mean of 50.2, standard deviation 4.1, 36 observations.",
       {"sampleMean": 50.2, "stdDev": 4.1, "sampleSize": 36, "confidencePercent": may_omit(95)})
ci.ask("We surveyed 120 commuters: average commute 34.5 minutes, sd of 12. What's the 99% interval?",
       {"sampleMean": 34.5, "stdDev": 12, "sampleSize": 120, "confidencePercent": 99}, "indirect")
ci.ask("mean 7.3, s = 1.1, n = 25, 90% CI", {"sampleMean": 7.3, "stdDev": 1.1, "sampleSize": 25,
                                           "confidencePercent": 90}, "terse", category=C5)

binom = d.fn("binomial_probability", None, trials=I(), successes=I(), p_success=N())
binom.ask("Probability of exactly 3 heads in 10 fair coin flips?", {"trials": 10, "successes": 3, "p_success": 0.5})
binom.ask("If my free throws go in 70% of the time, what are the odds I make exactly eight out of ten?",
          {"trials": 10, "successes": 8, "p_success": 0.7}, "words indirect")
binom.ask("A spinner lands on red a quarter of the time. Chance of exactly 2 reds in 6 spins?",
          {"trials": 6, "successes": 2, "p_success": 0.25}, "words", category=C2)

regress = d.fn("linear_regression_fit", "Least-squares line through paired data; can also predict y at a new x.",
               x_values=A(N()), y_values=A(N()), predict_x=N("Predict y at this x", opt=True))
regress.ask("Fit a straight line to x = 1, 2, 3, 4, 5 and y = 2.1, 3.9, 6.2, 8.1, 9.8.",
            {"x_values": [1, 2, 3, 4, 5], "y_values": [2.1, 3.9, 6.2, 8.1, 9.8]})
regress.ask("Ad spend (in $k) was 10, 20, 30, 40 and sales were 25, 41, 58, 79. What sales should 50k of ad "
            "spend bring?",
            {"x_values": [10, 20, 30, 40], "y_values": [25, 41, 58, 79], "predict_x": 50}, "indirect")
regress.ask("regress y=[3,5,7,10] on x=[0,1,2,3], predict at x=6",
            {"x_values": [0, 1, 2, 3], "y_values": [3, 5, 7, 10], "predict_x": 6}, "terse", category=C2)

# -- mathematics --------------------------------------------------------------------------------
d = BOOK.domain("mathematics")
gcd = d.fn("math.gcd", "Greatest common divisor of two or more integers.", integers=A(I(), minItems=2))
gcd.ask("gcd of 84 and 126", {"integers": unordered([84, 126])}, "terse")
gcd.ask("What's the largest number that divides 48, 180 and 600 evenly?",
        {"integers": unordered([48, 180, 600])}, "indirect")

quad = d.fn("solve_quadratic", "Roots of a*x^2 + b*x + c = 0.",
            coef_a=N(), coef_b=N(), coef_c=N(),
            complex_roots=B("Also return complex roots (real only by default)", opt=True))
quad.ask("Solve x^2 - 5x + 6 = 0.", {"coef_a": 1, "coef_b": -5, "coef_c": 6})
quad.ask("Find all roots of 2x² + 3x + 5 = 0, complex ones included.",
         {"coef_a": 2, "coef_b": 3, "coef_c": 5, "complex_roots": True})
quad.ask("Where does 4x^2 + 4x + 1 cross zero?", {"coef_a": 4, "coef_b": 4, "coef_c": 1}, "indirect", category=C2)

factor = d.fn("primeFactorize", "Prime factorization.", n=I(minimum=2))
factor.ask("prime factors of 360", {"n": 360}, "terse")
factor.ask("Could you break 9,797 down into its prime factors?", {"n": 9797}, "polite")

comb = d.fn("math.combinations", "Number of ways to choose k items out of n when order does not matter.",
            pool_size=I(minimum=0), choose=I(minimum=0),
            repetition=B("Allow the same item more than once", opt=True))
comb.ask("How many different 5-card hands can be dealt from a 52-card deck?", {"pool_size": 52, "choose": 5},
         "indirect")
comb.ask("In how many ways can I pick three scoops from eight ice cream flavours if flavours can repeat?",
         {"pool_size": 8, "choose": 3, "repetition": True}, "words")
comb.ask("A lottery ticket is 6 numbers out of 49. How many possible tickets are there?",
         {"pool_size": 49, "choose": 6}, "indirect", category=C5)

# -- astronomy ----------------------------------------------------------------------------------
d = BOOK.domain("astronomy")
moon = d.fn("get_moon_phase", "Moon phase and illuminated fraction on a date.",
            on_date=S("YYYY-MM-DD"), hemisphere=E(["north", "south"], "How the phase is drawn; default north",
                                                  opt=True))
moon.ask("What phase will the moon be in on 2025-12-25?", {"on_date": "2025-12-25"})
moon.ask("I'm in Melbourne. How will the moon look on 2026-01-10?",
         {"on_date": "2026-01-10", "hemisphere": "south"}, "indirect")

BODIES = ["sun", "mercury", "venus", "earth", "moon", "mars", "jupiter", "saturn", "uranus", "neptune"]
pdist = d.fn("planetaryDistance", "Distance between two solar-system bodies on a date.",
             fromBody=E(BODIES), toBody=E(BODIES), onDate=S("YYYY-MM-DD; today when left out", opt=True),
             distanceUnit=E(["km", "au", "light_minutes"], "Default km", opt=True))
pdist.ask("How far is Mars from Earth right now, in AU?",
          {"fromBody": one_of("earth", "mars"), "toBody": one_of("mars", "earth"), "distanceUnit": "au"}, "units")
pdist.ask("Distance from Earth to Jupiter on 2026-03-01 in light minutes, please.",
          {"fromBody": "earth", "toBody": "jupiter", "onDate": "2026-03-01", "distanceUnit": "light_minutes"},
          "polite units")
pdist.ask("How many kilometres was Venus from the Sun on 2025-06-21?",
          {"fromBody": one_of("venus", "sun"), "toBody": one_of("sun", "venus"), "onDate": "2025-06-21",
           "distanceUnit": may_omit("km")}, "units", category=C5)

scope = d.fn("telescope.field_of_view", "True field of view and magnification of a telescope with an eyepiece.",
             telescope_focal_length_mm=N(exclusiveMinimum=0),
             eyepiece=O(focal_length_mm=N(exclusiveMinimum=0),
                        apparent_fov_deg=N("Apparent field of the eyepiece; 52 when left out", opt=True)),
             barlow_factor=N("Barlow lens multiplier, e.g. 2", opt=True))
scope.ask("My telescope has a 1200 mm focal length. What field of view do I get with a 25 mm eyepiece?",
          {"telescope_focal_length_mm": 1200, "eyepiece": {"focal_length_mm": 25}}, "units")
scope.ask("1000mm scope, 10mm eyepiece with 68 degree apparent field, plus a 2x barlow - magnification and true fov?",
          {"telescope_focal_length_mm": 1000, "eyepiece": {"focal_length_mm": 10, "apparent_fov_deg": 68},
           "barlow_factor": 2}, "terse units")
scope.ask("How much sky fits in the view of a 650 millimetre refractor with a 32 mm, 50-degree eyepiece?",
          {"telescope_focal_length_mm": 650, "eyepiece": {"focal_length_mm": 32, "apparent_fov_deg": 50}},
          "indirect units", category=C2)

star = d.fn("star_catalog.lookup", "Catalog data for a named star.",
            star_name=S(), properties=A(E(["magnitude", "distance_ly", "spectral_type", "constellation",
                                           "radius_solar"]), "All when left out", opt=True))
star.ask("How far away is Betelgeuse in light years?", {"star_name": "Betelgeuse", "properties": ["distance_ly"]},
         "units")
star.ask("Look up Sirius.", {"star_name": "Sirius"}, "terse")
star.ask("Which constellation is Vega in, and what's its spectral type?",
         {"star_name": "Vega", "properties": unordered(["constellation", "spectral_type"])}, category=C5)

# -- biology ------------------------------------------------------------------------------------
d = BOOK.domain("biology")
revcomp = d.fn("dna.reverse_complement", "Reverse complement of a DNA sequence.", sequence=S("Bases A, C, G, T"))
revcomp.ask("reverse complement of ATGCGTAC", {"sequence": "ATGCGTAC"}, "terse")
revcomp.ask("I need the opposite strand, read 5' to 3', for GGATCCTTAA.", {"sequence": "GGATCCTTAA"}, "indirect")

gc = d.fn("gc_content_percent", "GC content of a DNA sequence, in percent.",
          dna=S(), window_size=I("Also report GC% in sliding windows of this many bases", opt=True, minimum=1))
gc.ask("GC content of ATGGCGCGTTAGCCA?", {"dna": "ATGGCGCGTTAGCCA"}, "terse")
gc.ask("What share of ACGTTTGCAGGCAATCGCGA is G or C? Also break it down in windows of five bases.",
       {"dna": "ACGTTTGCAGGCAATCGCGA", "window_size": 5}, "indirect words")
gc.ask("Percentage of G+C in the primer CCGTAGGCTA", {"dna": "CCGTAGGCTA"}, category=C2)

growth = d.fn("population_growth", "Project a population forward in time.",
              initial_population=I(minimum=1), growth_rate_percent=N("Per year"), projection_years=N(),
              model=E(["exponential", "logistic"], "Default exponential", opt=True),
              carrying_capacity=I("Needed for the logistic model", opt=True))
growth.ask("A town of 12,000 people grows 2.5% a year. How big will it be in 10 years?",
           {"initial_population": 12000, "growth_rate_percent": 2.5, "projection_years": 10}, "indirect")
growth.ask("Deer herd of 300, 18 percent growth per year, and the forest can support 1,000 at most. Project it "
           "eight years ahead with a logistic model.",
           {"initial_population": 300, "growth_rate_percent": 18, "projection_years": 8, "model": "logistic",
            "carrying_capacity": 1000}, "words")

taxo = d.fn("species.get_taxonomy", "Taxonomic classification of a species.",
            species_name=S("Common or scientific name"), include_synonyms=B(opt=True))
taxo.ask("What's the full classification of the red fox?",
         {"species_name": one_of("red fox", "Vulpes vulpes")}, category=C2)

# -- history ------------------------------------------------------------------------------------
d = BOOK.domain("history")
evdate = d.fn("history.event_date", "When a historical event happened.",
              event=S("Name of the event"), calendar=E(["gregorian", "julian"], "Default gregorian", opt=True))
evdate.ask("When was the Battle of Hastings?", {"event": contains("Battle of Hastings", "hastings")})
evdate.ask("What was the date of the October Revolution in the Julian calendar?",
           {"event": contains("October Revolution", "october revolution"), "calendar": "julian"})
evdate.ask("when did the Berlin Wall fall", {"event": contains("fall of the Berlin Wall", "berlin wall")},
           "terse", category=C2)

figure = d.fn("getHistoricalFigure", "Biographical facts about a historical person.",
              personName=S(), facts=A(E(["born", "died", "nationality", "known_for", "spouse"]),
                                      "All when left out", opt=True))
figure.ask("When was Ada Lovelace born and when did she die?",
           {"personName": "Ada Lovelace", "facts": unordered(["born", "died"])})
figure.ask("Tell me about Simón Bolívar.", {"personName": one_of("Simón Bolívar", "Simon Bolivar")}, "terse")

timeline = d.fn("history.timeline", "Key events in a region between two years (negative years are BCE).",
                region=S(), from_year=I(), to_year=I(),
                theme=E(["politics", "war", "science", "art", "religion", "economy"], opt=True))
timeline.ask("Timeline of Egypt from 100 BC to 50 AD.", {"region": "Egypt", "from_year": -100, "to_year": 50})
timeline.ask("scientific milestones in Europe 1600-1700",
             {"region": "Europe", "from_year": 1600, "to_year": 1700, "theme": "science"}, "terse")
timeline.ask("I'm writing an essay on wars in Japan between 1450 and 1600. What happened?",
             {"region": "Japan", "from_year": 1450, "to_year": 1600, "theme": "war"}, "indirect", category=C2)

# -- music --------------------------------------------------------------------------------------
d = BOOK.domain("music")
notefreq = d.fn("music.note_frequency", "Frequency in Hz of a note in equal temperament.",
                pitch=S("Scientific pitch notation, e.g. A4, C#5"),
                reference_hz=N("Frequency of A4; 440 when left out", opt=True))
notefreq.ask("What's the frequency of middle C?", {"pitch": "C4"}, "indirect")
notefreq.ask("Frequency of E5 when the orchestra tunes A to 442 Hz?", {"pitch": "E5", "reference_hz": 442}, "units")

NOTES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
chord = d.fn("chord_notes", "Notes of a chord.",
             root=E(NOTES), quality=E(["major", "minor", "diminished", "augmented", "dom7", "maj7", "min7"]))
chord.ask("Which notes make up a D minor chord?", {"root": "D", "quality": "minor"})
chord.ask("Spell G7 for me.", {"root": "G", "quality": "dom7"}, "terse")
chord.ask("I'm learning guitar and the song has an F# diminished chord. What notes are in it?",
          {"root": "F#", "quality": "diminished"}, "indirect", category=C5)

metro = d.fn("metronome.start", "Start the metronome.",
             bpm=I(minimum=20, maximum=300), timeSignature=S("e.g. 3/4; 4/4 when left out", opt=True),
             accentFirstBeat=B(opt=True))
metro.ask("Start a metronome at 96 bpm.", {"bpm": 96})
metro.ask("Click in 6/8 at a hundred and twenty, and accent the downbeat.",
          {"bpm": 120, "timeSignature": "6/8", "accentFirstBeat": True}, "words")
metro.ask("waltz tempo please, 3/4 at 84", {"bpm": 84, "timeSignature": "3/4"}, "terse", category=C2)

setlist = d.fn("concerts.setlist", "Songs an artist played at a past concert.",
               artist=S(), concert_date=S("YYYY-MM-DD"), venue_city=S(opt=True))
setlist.ask("I was at the Taylor Swift show in Lisbon on 2024-05-24 and want to relive it. What was the setlist?",
            {"artist": "Taylor Swift", "concert_date": "2024-05-24", "venue_city": "Lisbon"}, "indirect",
            category=C2)

# -- real estate --------------------------------------------------------------------------------
d = BOOK.domain("real_estate")
homeval = d.fn("realEstate.estimateValue", "Estimated market value of a home.",
               propertyAddress=S(), bedrooms=I(minimum=0), bathrooms=N("Half baths count 0.5"),
               livingAreaSqft=N("Living area in square feet"), hasGarage=B(opt=True))
homeval.ask("Estimate what 14 Elm Row, Portland OR is worth: 3 bed, 2 bath, 1,650 sq ft, with a garage.",
            {"propertyAddress": contains("14 Elm Row, Portland, OR", "14 elm row", "portland"), "bedrooms": 3,
             "bathrooms": 2, "livingAreaSqft": 1650, "hasGarage": True})
homeval.ask("What's a 2 bedroom, one and a half bath flat of 90 square metres at 8 Quay Street, Dublin worth?",
            {"propertyAddress": contains("8 Quay Street, Dublin", "8 quay st", "dublin"), "bedrooms": 2,
             "bathrooms": 1.5, "livingAreaSqft": one_of(968.75, 968.8, 969, 968.76, 968.7, 968.751, 968.752)},
            "units words")
homeval.ask("value of 221 Pine Ave, Austin TX - 4bd/3ba, 2400 sqft",
            {"propertyAddress": contains("221 Pine Ave, Austin, TX", "221 pine ave", "austin"), "bedrooms": 4,
             "bathrooms": 3, "livingAreaSqft": 2400}, "terse", category=C2)

afford = d.fn("mortgage.max_affordable_price", "Highest home price a buyer can afford.",
              gross_annual_income=N(), down_payment=N(), interest_rate_pct=N("Annual rate in percent"),
              monthly_debt_payments=N(opt=True), loan_term_years=I("Default 30", opt=True))
afford.ask("We earn 95k a year together, have 20k saved for the down payment, and rates are about 6.5%. How "
           "expensive a house can we afford?",
           {"gross_annual_income": 95000, "down_payment": 20000, "interest_rate_pct": 6.5}, "indirect")
afford.ask("income 140000, car loan 450/mo, 60000 down, 5.875% on a 15-year loan: max home price?",
           {"gross_annual_income": 140000, "down_payment": 60000, "interest_rate_pct": 5.875,
            "monthly_debt_payments": 450, "loan_term_years": 15}, "terse")
afford.ask("I make $72,000, owe $300 a month on student loans and can put down $15,000. At 7% over thirty years, "
           "what price range should I look in?",
           {"gross_annual_income": 72000, "down_payment": 15000, "interest_rate_pct": 7,
            "monthly_debt_payments": 300, "loan_term_years": may_omit(30)}, "words", category=C5)

rentals = d.fn("rentals.search", "Search apartments for rent.",
               neighborhood=S(), max_rent=N("Monthly, local currency"), min_bedrooms=I(opt=True),
               pets_allowed=B(opt=True), furnished=B(opt=True))
rentals.ask("Find rentals in Kreuzberg under 1400 a month with at least 2 bedrooms.",
            {"neighborhood": "Kreuzberg", "max_rent": 1400, "min_bedrooms": 2})
rentals.ask("I have a cat and need a furnished place in the Mission District, budget $2,800.",
            {"neighborhood": one_of("Mission District", "Mission"), "max_rent": 2800, "pets_allowed": True,
             "furnished": True}, "indirect")
rentals.ask("apartments in Le Marais up to 1900/month", {"neighborhood": one_of("Le Marais", "Marais"),
                                                         "max_rent": 1900}, "terse", category=C2)

insure = d.fn("insurance.get_quote", "Premium quote for an insurance policy.",
              coverage_type=E(["auto", "home", "renters", "life"]), coverage_amount=N(),
              applicant_age=I(minimum=18), deductible=N(opt=True))
insure.ask("Quote me renters insurance for 30k of coverage, I'm 27.",
           {"coverage_type": "renters", "coverage_amount": 30000, "applicant_age": 27}, "terse", category=C2)

# -- health -------------------------------------------------------------------------------------
d = BOOK.domain("health")
caffeine = d.fn("caffeine.remaining_mg", "Caffeine still in the body some hours after a dose.",
                dose_mg=N(minimum=0), hours_elapsed=N(minimum=0),
                half_life_hours=N("Elimination half-life; 5 when left out", opt=True))
caffeine.ask("I had 200 mg of caffeine 6 hours ago. How much is still in my system?",
             {"dose_mg": 200, "hours_elapsed": 6}, "units")
caffeine.ask("Two espressos at about 64 mg each at 2pm - how much caffeine is left at 11pm? I'm pregnant, so use a "
             "10 hour half-life.",
             {"dose_mg": 128, "hours_elapsed": 9, "half_life_hours": 10}, "indirect units words")
caffeine.ask("caffeine left after 95 mg and four and a half hours", {"dose_mg": 95, "hours_elapsed": 4.5},
             "terse words units", category=C2)

water_intake = d.fn("calculateWaterIntake", "Daily water intake recommendation.",
                    bodyWeightKg=N(), exerciseMinutes=I("Per day", opt=True), hotClimate=B(opt=True))
water_intake.ask("How much water should I drink a day? I weigh 60 kg and work out 45 minutes daily.",
                 {"bodyWeightKg": 60, "exerciseMinutes": 45}, "units")
water_intake.ask("Water intake for someone of 90 kg spending the summer in Phoenix?",
                 {"bodyWeightKg": 90, "hotClimate": True}, "indirect")

interactions = d.fn("drug_interactions.check", "Check a list of medications for known interactions.",
                    medications=A(S(), minItems=2),
                    min_severity=E(["minor", "moderate", "major"], "Default minor", opt=True))
interactions.ask("Can I take ibuprofen together with lisinopril?",
                 {"medications": unordered(["ibuprofen", "lisinopril"])}, "indirect")
interactions.ask("check warfarin, aspirin and omeprazole - only major interactions",
                 {"medications": unordered(["warfarin", "aspirin", "omeprazole"]), "min_severity": "major"},
                 "terse")
interactions.ask("My dad takes simvastatin and his doctor just added clarithromycin. Is that combo a problem?",
                 {"medications": unordered(["simvastatin", "clarithromycin"])}, "indirect", category=C2)

bedtime = d.fn("sleep.calculate_bedtime", "Bedtimes that end on a full sleep cycle.",
               wake_time=S("HH:MM, 24-hour"), cycles=I("Number of 90-minute cycles; default 5", opt=True),
               fall_asleep_minutes=I(opt=True))
bedtime.ask("Waking at 7:15 am, I want 6 full cycles and it takes me 20 minutes to fall asleep.",
            {"wake_time": "07:15", "cycles": 6, "fall_asleep_minutes": 20}, "units", category=C2)

# -- geography ----------------------------------------------------------------------------------
d = BOOK.domain("geography")
facts = d.fn("country_facts", "Facts about a country.",
             country=S(), include=A(E(["capital", "population", "area_km2", "currency", "official_languages",
                                       "calling_code"]), minItems=1))
facts.ask("What currency and which languages does Switzerland use?",
          {"country": "Switzerland", "include": unordered(["currency", "official_languages"])})
facts.ask("capital + population of Kenya", {"country": "Kenya", "include": unordered(["capital", "population"])},
          "terse")
facts.ask("I need to call a hotel in Portugal, what's the country code? And how big is the country in km²?",
          {"country": "Portugal", "include": unordered(["calling_code", "area_km2"])}, "indirect units",
          category=C5)

elev = d.fn("elevationAt", "Ground elevation above sea level at a coordinate.",
            latitude=N(minimum=-90, maximum=90), longitude=N(minimum=-180, maximum=180),
            elevationUnit=E(["m", "ft"], opt=True))
elev.ask("How high above sea level is 27.9881, 86.9250?", {"latitude": 27.9881, "longitude": 86.925})
elev.ask("elevation in feet at lat 39.7392 lon -104.9903",
         {"latitude": 39.7392, "longitude": -104.9903, "elevationUnit": "ft"}, "terse units")
elev.ask("We're planning a picnic at 47.0707 N, 15.4395 E; how many metres up is that spot?",
         {"latitude": 47.0707, "longitude": 15.4395, "elevationUnit": may_omit("m")}, "indirect units",
         category=C2)

tzconv = d.fn("timezone.convert_time", "Convert a clock time between IANA time zones.",
              clock_time=S("HH:MM"), from_tz=S("IANA name, e.g. Europe/Paris"), to_tz=S("IANA name"),
              reference_date=S("YYYY-MM-DD, for daylight saving; today when left out", opt=True))
tzconv.ask("What time is 09:00 New York time in Tokyo?",
           {"clock_time": "09:00", "from_tz": "America/New_York", "to_tz": "Asia/Tokyo"})
tzconv.ask("If it's 15:30 in London on 2025-03-30, what time is it in Sydney?",
           {"clock_time": "15:30", "from_tz": "Europe/London", "to_tz": "Australia/Sydney",
            "reference_date": "2025-03-30"})
tzconv.ask("My call with Berlin is at 2pm their time. What's that for me in Los Angeles?",
           {"clock_time": "14:00", "from_tz": "Europe/Berlin", "to_tz": "America/Los_Angeles"}, "indirect",
           category=C2)

# -- investing ----------------------------------------------------------------------------------
d = BOOK.domain("investing")
compound = d.fn("compoundInterest", "Future value of savings with compound interest.",
                initialDeposit=N(), annualRatePct=N(), termYears=N(),
                compoundsPerYear=E([1, 4, 12, 365], "Default 12", opt=True), monthlyContribution=N(opt=True))
compound.ask("If I put 10,000 away at 4% compounded quarterly, what will I have after 15 years?",
             {"initialDeposit": 10000, "annualRatePct": 4, "termYears": 15, "compoundsPerYear": 4})
compound.ask("5k to start, adding 200 every month, 7% a year for thirty years - what do I end up with?",
             {"initialDeposit": 5000, "annualRatePct": 7, "termYears": 30, "monthlyContribution": 200}, "words")
compound.ask("2500 at 3.2% for 6 years, compounded annually", {"initialDeposit": 2500, "annualRatePct": 3.2,
                                                                "termYears": 6, "compoundsPerYear": 1},
             "terse", category=C2)

LEG = O(kind=E(["call", "put"]), position=E(["long", "short"]), strike=N(), premium=N("Per share"))
payoff = d.fn("optionStrategyPayoff", "Profit or loss at expiry of an options strategy, per share.",
              legs=A(LEG, minItems=1), underlyingPriceAtExpiry=N())
payoff.ask("If I buy a 100 call for 3.50, what's my profit per share if the stock is at 110 at expiry?",
           {"legs": [{"kind": "call", "position": "long", "strike": 100, "premium": 3.5}],
            "underlyingPriceAtExpiry": 110}, "indirect")
payoff.ask("bull call spread: long 50 call @ 4, short 55 call @ 1.5. P/L at 53?",
           {"legs": unordered([{"kind": "call", "position": "long", "strike": 50, "premium": 4},
                               {"kind": "call", "position": "short", "strike": 55, "premium": 1.5}]),
            "underlyingPriceAtExpiry": 53}, "terse")
payoff.ask("I sold a put with a strike of forty-five for 2 dollars. The stock ends at 41 - how did I do?",
           {"legs": [{"kind": "put", "position": "short", "strike": 45, "premium": 2}],
            "underlyingPriceAtExpiry": 41}, "words indirect", category=C2)

quote = d.fn("stocks.get_quote", "Latest price of a stock.",
             ticker=S(), exchange=E(["NYSE", "NASDAQ", "LSE", "TSE", "XETRA"], opt=True),
             include_after_hours=B(opt=True))
quote.ask("What's Apple trading at?", {"ticker": "AAPL"}, "indirect", category=C5)

crypto = d.fn("crypto.price_history", "Daily closing prices of a cryptocurrency.",
              coin=S("Symbol, e.g. BTC"), lookback_days=I(minimum=1, maximum=365),
              quote_currency=S("Default USD", opt=True))
crypto.ask("How has Ether done in euros over the past two weeks?",
           {"coin": "ETH", "lookback_days": 14, "quote_currency": "EUR"}, "words indirect", category=C2)

# -- education ----------------------------------------------------------------------------------
d = BOOK.domain("education")
gpa = d.fn("gpaCalculator", "GPA on a 4.0 scale.",
           courses=A(O(credits=N(), grade=E(["A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D", "F"])), minItems=1))
gpa.ask("GPA for: 3 credits A, 4 credits B+, 3 credits C.",
        {"courses": unordered([{"credits": 3, "grade": "A"}, {"credits": 4, "grade": "B+"},
                               {"credits": 3, "grade": "C"}])}, "terse")
gpa.ask("This semester I got an A- in a four-credit class and a B in each of two three-credit classes. What's my "
        "GPA?",
        {"courses": unordered([{"credits": 4, "grade": "A-"}, {"credits": 3, "grade": "B"},
                               {"credits": 3, "grade": "B"}])}, "words indirect")
gpa.ask("Work out my grade point average: Biology 4 credits B-, History 3 credits A.",
        {"courses": unordered([{"credits": 4, "grade": "B-"}, {"credits": 3, "grade": "A"}])}, category=C2)

grade = d.fn("gradebook.record_score", "Record a student's score on an assignment.",
             student_id=S(), assignment=S(), points=N(), out_of=N("Maximum points; 100 when left out", opt=True),
             late=B(opt=True))
grade.ask("S-2091 got 18 out of 20 on Lab Report 2, handed in late.",
          {"student_id": "S-2091", "assignment": contains("Lab Report 2"), "points": 18, "out_of": 20,
           "late": True}, "terse", category=C2)

courses = d.fn("courses.search_catalog", "Search the university course catalog.",
               keywords=S(), term=E(["fall", "spring", "summer"]),
               course_level=E(["intro", "intermediate", "advanced", "graduate"], opt=True), online_only=B(opt=True))
courses.ask("Any online intro statistics courses this fall?",
            {"keywords": contains("statistics"), "term": "fall", "course_level": "intro", "online_only": True},
            category=C2)

library = d.fn("library.search_catalog", "Search the public library's catalog.",
               search_terms=S(), media=E(["book", "ebook", "audiobook", "dvd"], opt=True),
               available_now=B("Only items on the shelf now", opt=True))
library.ask("books about beekeeping that I could borrow today",
            {"search_terms": contains("beekeeping"), "media": may_omit("book"), "available_now": True},
            "terse indirect", category=C5)

# -- pets ---------------------------------------------------------------------------------------
d = BOOK.domain("pets")
portion = d.fn("pet.daily_food_portion", "Daily amount of dry food for a dog or cat, in grams.",
               species=E(["dog", "cat"]), pet_weight_kg=N(), age_years=N(), neutered=B(opt=True),
               activity_level=E(["low", "normal", "high"], opt=True))
portion.ask("My cat weighs 11 pounds, she's two and spayed. Daily portion?",
            {"species": "cat", "pet_weight_kg": one_of(4.99, 5, 4.99, 4.9895, 4.98952, 4.98951, 4.9),
             "age_years": 2, "neutered": True}, "units words", category=C2)

vaccines = d.fn("pets.vaccine_schedule", "Vaccinations due for a pet, by date.",
                species=E(["dog", "cat", "rabbit"]), birth_date=S("YYYY-MM-DD"),
                region=S("ISO 3166 country code, e.g. US", opt=True))
vaccines.ask("Puppy born 2025-06-15, we live in the UK. Vaccination schedule please.",
             {"species": "dog", "birth_date": "2025-06-15", "region": one_of("GB", "UK")}, "polite", category=C2)

# -- shipping -----------------------------------------------------------------------------------
d = BOOK.domain("shipping")
shipquote = d.fn("shipping.quote", "Price a parcel shipment.",
                 parcel=O(weight_kg=N(), length_cm=N(), width_cm=N(), height_cm=N()),
                 from_postcode=S(), to_postcode=S(), speed=E(["economy", "express", "overnight"], opt=True))
shipquote.ask("Quote to ship a 2.5 kg box, 40 x 30 x 20 cm, from 10115 to 80331, express.",
              {"parcel": {"weight_kg": 2.5, "length_cm": 40, "width_cm": 30, "height_cm": 20},
               "from_postcode": "10115", "to_postcode": "80331", "speed": "express"}, "units")
shipquote.ask("How much to send a 12 x 9 x 4 inch package weighing 3 lb from 94103 to 10001?",
              {"parcel": {"weight_kg": one_of(1.36, 1.361, 1.3608, 1.36078, 1.4),
                          "length_cm": one_of(30.48, 30.5), "width_cm": one_of(22.86, 22.9),
                          "height_cm": one_of(10.16, 10.2)},
               "from_postcode": "94103", "to_postcode": "10001"}, "units")
shipquote.ask("cheapest way to post a 500 g parcel 25x15x5 cm from SW1A 1AA to EH1 1YZ",
              {"parcel": {"weight_kg": 0.5, "length_cm": 25, "width_cm": 15, "height_cm": 5},
               "from_postcode": "SW1A 1AA", "to_postcode": "EH1 1YZ", "speed": "economy"}, "terse units",
              category=C2)

tracking = d.fn("trackParcel", "Tracking events of a parcel.",
                carrier=E(["ups", "fedex", "dhl", "usps"]), trackingNumber=S())
tracking.ask("Where's my UPS package 1Z999AA10123456784?", {"carrier": "ups", "trackingNumber": "1Z999AA10123456784"},
             category=C5)

# -- energy -------------------------------------------------------------------------------------
d = BOOK.domain("energy")
elbill = d.fn("electricity.bill_estimate", "Estimate an electricity bill.",
              usage_kwh=N(), billing_days=I(minimum=1),
              tariff=O(price_per_kwh=N("In main currency units (0.25, not 25 cents)"),
                       daily_standing_charge=N("In main currency units", opt=True)))
elbill.ask("We used 350 kWh over 31 days and pay 0.28 per kWh. What will the bill be?",
           {"usage_kwh": 350, "billing_days": 31, "tariff": {"price_per_kwh": 0.28}}, "units")
elbill.ask("Estimate a 90 day bill: 1,240 kWh at 24.5p per kWh plus a 53p daily standing charge.",
           {"usage_kwh": 1240, "billing_days": 90, "tariff": {"price_per_kwh": 0.245,
                                                              "daily_standing_charge": 0.53}}, "units")
elbill.ask("Roughly what does 500 kilowatt-hours cost over a 30-day month at 31 cents a unit?",
           {"usage_kwh": 500, "billing_days": 30, "tariff": {"price_per_kwh": 0.31}}, "units words", category=C5)

appliance = d.fn("applianceRunningCost", "Running cost of an electrical appliance.",
                 power_watts=N(), hours_per_day=N(), price_per_kwh=N(), period_days=I("Default 30", opt=True))
appliance.ask("What does a 2 kW space heater cost to run 5 hours a day for a week at 0.30 per kWh?",
              {"power_watts": 2000, "hours_per_day": 5, "price_per_kwh": 0.3, "period_days": 7}, "units",
              category=C2)

not_with(appliance, elbill)  # a running cost is also a small bill
not_with(tracking, track)  # orders.track (above) could be tried with a tracking number

# -- requests that need the conversation --------------------------------------------------------
tzconv.ask("And what time would that be in Mumbai?",
           {"clock_time": "09:00", "from_tz": "America/New_York", "to_tz": "Asia/Kolkata"},
           history=[{"role": "user", "content": "Our stand-up is at 09:00 New York time."},
                    {"role": "assistant", "content": "Got it, 09:00 in New York (America/New_York)."}],
           category=C2)
interactions.ask("metformin and ibuprofen?", {"medications": unordered(["metformin", "ibuprofen"])}, "terse",
                 system="You are a pharmacy assistant. Check interactions with the tools before answering.")

# ===============================================================================================
# Added part "2026-fresh": one-function requests in domains the rules above were not tuned on, in
# three batches, each written and measured before any rule was changed for it (the first: 53 of 77
# exact), to see which rules generalize.
# ===============================================================================================
BOOK.part("2026-fresh")

# -- physics and engineering --------------------------------------------------------------------
d = BOOK.domain("engineering")
ohm = d.fn("circuit.ohms_law", "Solve Ohm's law for the missing quantity.",
           voltage_v=N("Volts", opt=True), current_a=N("Amperes", opt=True), resistance_ohm=N("Ohms", opt=True))
ohm.ask("What current flows through a 220 ohm resistor with 9 volts across it?",
        {"voltage_v": 9, "resistance_ohm": 220})
ohm.ask("A heater draws 8 A at 230 V. What's its resistance?", {"voltage_v": 230, "current_a": 8})
beam = d.fn("beam_deflection", "Maximum deflection of a simply supported beam under a central point load.",
            load_newtons=N(), span_m=N(), youngs_modulus_gpa=N(), moment_of_inertia_m4=N())
beam.ask("Deflection for a 5000 N load on a 4 m span, E = 200 GPa, I = 0.0001 m^4?",
         {"load_newtons": 5000, "span_m": 4, "youngs_modulus_gpa": 200, "moment_of_inertia_m4": 0.0001})
freefall = d.fn("physics.free_fall", "Time and impact speed of an object dropped from rest.",
                height_m=N("Drop height in metres"), gravity=N("m/s^2, default 9.81 (Earth)", opt=True))
freefall.ask("How long does a stone take to fall 45 metres?", {"height_m": 45, "gravity": may_omit(9.81)})
freefall.ask("Drop a hammer from 20 m on the Moon (g = 1.62). Time to hit the ground?",
             {"height_m": 20, "gravity": 1.62})
density = d.fn("calc_density", "Density from mass and volume.", mass=N(), volume=N(),
               unit=E(["kg/m3", "g/cm3"], "Unit of the result", opt=True))
density.ask("An object weighs 250 grams and takes up 100 cubic centimetres; give the density in g/cm3.",
            {"mass": 250, "volume": 100, "unit": "g/cm3"})
wavelength = d.fn("wave.wavelength", "Wavelength from frequency and wave speed.",
                  frequency_hz=N(), speed_m_s=N("Default: speed of light", opt=True))
wavelength.ask("What is the wavelength of a 440 Hz sound wave travelling at 343 m/s?",
               {"frequency_hz": 440, "speed_m_s": 343})

# -- astronomy ----------------------------------------------------------------------------------
d = BOOK.domain("astronomy")
orbit = d.fn("orbital_period", "Orbital period of a body around a central mass (Kepler's third law).",
             semi_major_axis_km=N(), central_body=E(["Sun", "Earth", "Jupiter", "Mars"]))
orbit.ask("What's the orbital period of a satellite with a semi-major axis of 42,164 km around Earth?",
          {"semi_major_axis_km": 42164, "central_body": "Earth"})
eclipse = d.fn("eclipses.next", "Next solar or lunar eclipses visible from a place.",
               location=S("City or place name"), kind=E(["solar", "lunar", "any"], opt=True),
               count=I("How many to list, default 1", opt=True, minimum=1))
eclipse.ask("When is the next lunar eclipse visible from Lisbon?", {"location": "Lisbon", "kind": "lunar"})
eclipse.ask("List the next 3 solar eclipses I could see from Santiago, Chile.",
            {"location": one_of("Santiago, Chile", "Santiago"), "kind": "solar", "count": 3})
iss = d.fn("iss_pass_times", "Upcoming visible passes of the International Space Station.",
           latitude=N(), longitude=N(), days=I("Look-ahead in days (1-10)", opt=True, minimum=1, maximum=10))
iss.ask("When can I see the ISS from 51.5, -0.12 over the next 5 days?",
        {"latitude": 51.5, "longitude": -0.12, "days": 5})

# -- chemistry ----------------------------------------------------------------------------------
d = BOOK.domain("chemistry")
ph = d.fn("chemistry.ph_from_concentration", "pH of a solution from its hydrogen ion concentration.",
          h_concentration_molar=N())
ph.ask("What's the pH if [H+] is 0.0001 M?", {"h_concentration_molar": 0.0001})
gas = d.fn("ideal_gas.solve_pressure", "Pressure of an ideal gas, PV = nRT.",
           moles=N(), temperature_k=N("Kelvin"), volume_l=N("Litres"))
gas.ask("Find the pressure of 2 moles of gas at 300 K in a 10 litre container.",
        {"moles": 2, "temperature_k": 300, "volume_l": 10})
gas.ask("0.5 mol of helium, 25 °C, 12 L: what's the pressure?",
        {"moles": 0.5, "temperature_k": 298.15, "volume_l": 12}, "units")
balance_eq = d.fn("balance_equation", "Balance a chemical equation.", equation=S("e.g. H2 + O2 -> H2O"))
balance_eq.ask("Balance this: Fe + O2 -> Fe2O3", {"equation": "Fe + O2 -> Fe2O3"})
halflife = d.fn("radioactive_decay.remaining", "Amount left of a radioactive sample after some time.",
                initial_amount=N(), half_life=N(), elapsed=N(),
                time_unit=E(["seconds", "days", "years"]))
halflife.ask("How much of 80 grams of carbon-14 is left after 11,460 years if its half-life is 5,730 years?",
             {"initial_amount": 80, "half_life": 5730, "elapsed": 11460, "time_unit": "years"})

# -- geography and travel -----------------------------------------------------------------------
d = BOOK.domain("geography")
capital = d.fn("get_capital_city", "Capital city of a country.", country=S())
capital.ask("What is the capital of Australia?", {"country": "Australia"})
river = d.fn("rivers.get_info", "Facts about a river: length, source, mouth, countries.",
             river_name=S(), fields=A(E(["length", "source", "mouth", "countries"]), opt=True))
river.ask("How long is the Danube and where does it end?",
          {"river_name": "Danube", "fields": unordered(["length", "mouth"])})
visa = d.fn("travel.visa_requirements", "Visa rules for a traveller.",
            passport_country=S(), destination_country=S(), stay_days=I(opt=True))
visa.ask("Do I need a visa to visit Japan for 10 days on a Canadian passport?",
         {"passport_country": "Canada", "destination_country": "Japan", "stay_days": 10})
visa.ask("Indian citizen travelling to Germany - visa needed?",
         {"passport_country": "India", "destination_country": "Germany"}, "terse")
carrent = d.fn("car_rental.search", "Search rental cars.",
               pickup_city=S(), pickup_date=S("YYYY-MM-DD"), return_date=S("YYYY-MM-DD"),
               car_class=E(["economy", "compact", "suv", "van", "luxury"], opt=True))
carrent.ask("Find me an SUV to rent in Denver from 2026-07-03 to 2026-07-10.",
            {"pickup_city": "Denver", "pickup_date": "2026-07-03", "return_date": "2026-07-10", "car_class": "suv"})
museum = d.fn("museum.opening_hours", "Opening hours of a museum on a date.", museum_name=S(), city=S(),
              date=S("YYYY-MM-DD", opt=True))
museum.ask("Is the Rijksmuseum in Amsterdam open on 2026-12-25?",
           {"museum_name": "Rijksmuseum", "city": "Amsterdam", "date": "2026-12-25"})

# -- sports -------------------------------------------------------------------------------------
d = BOOK.domain("sports")
golf = d.fn("golf.handicap_index", "Compute a golf handicap index from recent score differentials.",
            differentials=A(N(), minItems=3))
golf.ask("My last differentials were 12.4, 15.1, 10.8, 13.3 and 14.0 - what's my handicap index?",
         {"differentials": [12.4, 15.1, 10.8, 13.3, 14.0]})
soccer = d.fn("soccer.fixture_result", "Result of a football (soccer) match.",
              home_team=S(), away_team=S(), season=S("e.g. 2023-24", opt=True))
soccer.ask("How did Arsenal do at home against Chelsea in the 2022-23 season?",
           {"home_team": "Arsenal", "away_team": "Chelsea", "season": "2022-23"})
swim = d.fn("swim_pace_per_100m", "Pace per 100 m for a swim.", distance_m=N(), time_seconds=N())
swim.ask("I swam 1500 m in 28 minutes 30 seconds. What's my pace per hundred?",
         {"distance_m": 1500, "time_seconds": 1710}, "units")
chess = d.fn("chess.elo_change", "Rating change after a game (Elo).",
             player_rating=I(), opponent_rating=I(), result=E(["win", "draw", "loss"]),
             k_factor=I("Default 20", opt=True))
chess.ask("I'm rated 1650 and just beat a 1800 player. How much do I gain?",
          {"player_rating": 1650, "opponent_rating": 1800, "result": "win"})
chess.ask("Draw between me (2100) and a 2050, K = 10.",
          {"player_rating": 2100, "opponent_rating": 2050, "result": "draw", "k_factor": 10}, "terse")

# -- health and nutrition -----------------------------------------------------------------------
d = BOOK.domain("health")
bmi = d.fn("calculate_bmi", "Body mass index.", weight_kg=N(), height_cm=N())
bmi.ask("Calculate the BMI for someone who weighs 72 kg and is 180 cm tall.", {"weight_kg": 72, "height_cm": 180})
bmi.ask("I'm 1.65 m and 60 kilos, what's my BMI?", {"weight_kg": 60, "height_cm": 165}, "units")
bmr = d.fn("nutrition.daily_calories", "Estimated daily calorie needs (Mifflin-St Jeor).",
           age=I(), sex=E(["male", "female"]), weight_kg=N(), height_cm=N(),
           activity=E(["sedentary", "light", "moderate", "active", "very_active"]))
bmr.ask("How many calories a day does a 34-year-old woman need, 68 kg, 170 cm, moderately active?",
        {"age": 34, "sex": "female", "weight_kg": 68, "height_cm": 170, "activity": "moderate"})
dose = d.fn("pediatric_dose", "Weight-based medicine dose for a child.",
            medication=S(), weight_kg=N(), dose_mg_per_kg=N())
dose.ask("Paracetamol at 15 mg/kg for a child of 18 kg - how much?",
         {"medication": "paracetamol", "weight_kg": 18, "dose_mg_per_kg": 15})
steps = d.fn("activity.log_steps", "Record a day's step count.", date=S("YYYY-MM-DD"), steps=I(minimum=0))
steps.ask("Log 12,345 steps for 2026-03-14.", {"date": "2026-03-14", "steps": 12345})
macro = d.fn("food.nutrition_facts", "Nutrition facts for an amount of a food.",
             food=S(), grams=N("Amount in grams, default 100", opt=True))
macro.ask("How much protein is in 150 g of chicken breast?", {"food": "chicken breast", "grams": 150})
macro.ask("avocado nutrition facts pls", {"food": "avocado"}, "terse")

# -- home and devices ---------------------------------------------------------------------------
d = BOOK.domain("devices")
sprinkler = d.fn("irrigation.run_zone", "Run one sprinkler zone now.", zone=I(minimum=1, maximum=12),
                 minutes=I(minimum=1, maximum=120))
sprinkler.ask("Water zone 3 for 15 minutes.", {"zone": 3, "minutes": 15})
tv = d.fn("tv.set_channel", "Switch the TV to a channel.", channel=I(minimum=1),
          room=E(["living_room", "bedroom", "kitchen"], opt=True))
tv.ask("Put channel 42 on in the bedroom.", {"channel": 42, "room": "bedroom"})
oven = d.fn("oven.preheat", "Preheat the oven.", temperature=N(), unit=E(["celsius", "fahrenheit"]),
            mode=E(["bake", "convection", "grill"], opt=True))
oven.ask("Preheat the oven to 200 degrees Celsius on convection.",
         {"temperature": 200, "unit": "celsius", "mode": "convection"})
oven.ask("Heat the oven to 350F please.", {"temperature": 350, "unit": "fahrenheit"}, "polite")
camera = d.fn("security.camera_snapshot", "Take a snapshot from a security camera.",
              camera_id=S("e.g. cam-front"), resolution=E(["low", "medium", "high"], opt=True))
camera.ask("Grab a high resolution snapshot from cam-garage.", {"camera_id": "cam-garage", "resolution": "high"})
washer = d.fn("washingMachine.start", "Start a wash cycle.",
              program=E(["cotton", "synthetics", "wool", "quick", "eco"]), temperatureC=I(opt=True),
              spinRpm=I(opt=True))
washer.ask("Run the wool programme at 30 degrees.", {"program": "wool", "temperatureC": 30})
washer.ask("quick wash, 1200 spin", {"program": "quick", "spinRpm": 1200}, "terse")

# -- work and productivity ----------------------------------------------------------------------
d = BOOK.domain("productivity")
meeting = d.fn("meetings.schedule", "Schedule a meeting.", title=S(), attendees=A(S("email address")),
               start=S("ISO 8601 date-time"), duration_minutes=I(minimum=5))
meeting.ask("Set up a 30 minute 'Budget review' with ana@corp.com and li@corp.com at 2026-02-10T14:00.",
            {"title": "Budget review", "attendees": ["ana@corp.com", "li@corp.com"],
             "start": "2026-02-10T14:00", "duration_minutes": 30})
expense = d.fn("expenses.submit", "Submit an expense claim.", amount=N(), currency=S("ISO 4217 code"),
               category=E(["travel", "meals", "lodging", "supplies", "other"]), description=S(opt=True))
expense.ask("Submit a meals expense of 42.80 EUR for the team lunch.",
            {"amount": 42.8, "currency": "EUR", "category": "meals",
             "description": may_omit(contains("team lunch", "lunch"))})
expense.ask("Claim 189 USD for the hotel in Boston.",
            {"amount": 189, "currency": "USD", "category": "lodging",
             "description": may_omit(contains("hotel in Boston", "Boston"))})
timesheet = d.fn("timesheet.log_hours", "Log hours worked on a project.", project_code=S(), hours=N(),
                 date=S("YYYY-MM-DD"))
timesheet.ask("Log 6.5 hours on project PRJ-204 for 2026-01-19.",
              {"project_code": "PRJ-204", "hours": 6.5, "date": "2026-01-19"})
translate = d.fn("documents.convert_format", "Convert a document to another format.",
                 file_path=S(), target_format=E(["pdf", "docx", "txt", "html", "md"]))
translate.ask("Convert reports/q3_summary.docx to PDF.", {"file_path": "reports/q3_summary.docx",
                                                         "target_format": "pdf"})
wordcount = d.fn("text.word_count", "Count the words in a text.", text=S())
wordcount.ask("How many words are in 'the quick brown fox jumps over the lazy dog'?",
              {"text": "the quick brown fox jumps over the lazy dog"})

# -- software and data --------------------------------------------------------------------------
d = BOOK.domain("software")
gitlog = d.fn("git.log", "Show commit history.", repo_path=S(), author=S(opt=True), since=S("YYYY-MM-DD", opt=True),
              max_count=I(opt=True, minimum=1))
gitlog.ask("Show the last 10 commits in /srv/app.", {"repo_path": "/srv/app", "max_count": 10})
gitlog.ask("What did maria commit to ~/code/api since 2026-01-01?",
           {"repo_path": "~/code/api", "author": "maria", "since": "2026-01-01"})
k8s = d.fn("kubernetes.scale_deployment", "Scale a deployment.", namespace=S(), deployment=S(), replicas=I(minimum=0))
k8s.ask("Scale the checkout deployment in the prod namespace to 6 replicas.",
        {"namespace": "prod", "deployment": "checkout", "replicas": 6})
regex = d.fn("regex.test", "Test whether a regular expression matches a string.", pattern=S(), text=S(),
             ignore_case=B(opt=True))
regex.ask("Does the pattern ^[A-Z]{3}-\\d{4}$ match 'ABC-1234'?", {"pattern": "^[A-Z]{3}-\\d{4}$",
                                                                   "text": "ABC-1234"})
ping = d.fn("network.ping", "Ping a host.", host=S(), count=I("Default 4", opt=True, minimum=1))
ping.ask("ping example.org 10 times", {"host": "example.org", "count": 10}, "terse")
ping.ask("Is 192.168.1.20 reachable?", {"host": "192.168.1.20"}, "indirect")
hashf = d.fn("crypto.hash_text", "Hash a string.", text=S(), algorithm=E(["md5", "sha1", "sha256", "sha512"]))
hashf.ask("Give me the SHA-256 of 'hello world'.", {"text": "hello world", "algorithm": "sha256"})
csvq = d.fn("data.csv_summary", "Summary statistics of a CSV column.", file=S(), column=S())
csvq.ask("Summarize the price column of data/listings.csv.", {"file": "data/listings.csv", "column": "price"})

# -- finance and shopping -----------------------------------------------------------------------
d = BOOK.domain("money")
roi = d.fn("investment.roi", "Return on investment in percent.", initial_value=N(), final_value=N(),
           years=N("For an annualized figure", opt=True))
roi.ask("I bought shares for 4,000 and sold them for 5,200. What was my ROI?",
        {"initial_value": 4000, "final_value": 5200})
roi.ask("Annualized return: 10k grew to 16k in 5 years.", {"initial_value": 10000, "final_value": 16000,
                                                           "years": 5}, "terse words")
salestax = d.fn("sales_tax.calculate", "Sales tax on a purchase.", amount=N(), state=S("US state code, e.g. CA"))
salestax.ask("What's the sales tax on a 899 dollar laptop in Texas?", {"amount": 899, "state": "TX"})
splitbill = d.fn("split_bill", "Split a bill between people, with an optional tip.", total=N(), people=I(minimum=1),
                 tip_percent=N(opt=True))
splitbill.ask("Split 186.40 between 4 people with a 15% tip.", {"total": 186.4, "people": 4, "tip_percent": 15})
splitbill.ask("Three of us owe 96 total, how much each?", {"total": 96, "people": 3}, "words")
depreciation = d.fn("asset.straight_line_depreciation", "Yearly straight-line depreciation.",
                    cost=N(), salvage_value=N(), useful_life_years=I(minimum=1))
depreciation.ask("A machine costs 50,000, is worth 5,000 at the end and lasts 9 years. Annual depreciation?",
                 {"cost": 50000, "salvage_value": 5000, "useful_life_years": 9})
price_alert = d.fn("shop.price_alert", "Alert me when a product's price drops below a target.",
                   product_url=S(), target_price=N(), email=S(opt=True))
price_alert.ask("Tell me when https://shop.example.com/p/8841 drops under 79.99.",
                {"product_url": "https://shop.example.com/p/8841", "target_price": 79.99})

# -- culture, language and education ------------------------------------------------------------
d = BOOK.domain("culture")
book = d.fn("books.find_by_author", "Books by an author.", author=S(), published_after=I("Year", opt=True))
book.ask("Which books has Ursula K. Le Guin published after 1970?",
         {"author": "Ursula K. Le Guin", "published_after": 1970})
film = d.fn("movies.showtimes", "Cinema showtimes.", movie_title=S(), city=S(), date=S("YYYY-MM-DD", opt=True))
film.ask("Where is Dune: Part Two playing in Leeds on 2026-03-02?",
         {"movie_title": "Dune: Part Two", "city": "Leeds", "date": "2026-03-02"})
conj = d.fn("language.conjugate_verb", "Conjugate a verb.", verb=S(), language=E(["french", "spanish", "german",
                                                                                  "italian"]),
            tense=E(["present", "past", "future"]))
conj.ask("Conjugate the Spanish verb 'tener' in the future tense.",
         {"verb": "tener", "language": "spanish", "tense": "future"})
quiz = d.fn("education.generate_quiz", "Generate a multiple-choice quiz.", topic=S(), questions=I(minimum=1, maximum=50),
            difficulty=E(["easy", "medium", "hard"], opt=True))
quiz.ask("Make a hard 12-question quiz on the French Revolution.",
         {"topic": "French Revolution", "questions": 12, "difficulty": "hard"})
poem = d.fn("art.painting_info", "Information about a painting.", title=S(), artist=S(opt=True))
poem.ask("Tell me about The Starry Night by Van Gogh.", {"title": "The Starry Night",
                                                         "artist": one_of("Van Gogh", "Vincent van Gogh")})
anagram = d.fn("word_games.anagrams", "Anagrams of a word.", word=S(), min_length=I(opt=True))
anagram.ask("What anagrams can be made from 'listen'?", {"word": "listen"})

# -- logistics and vehicles ---------------------------------------------------------------------
d = BOOK.domain("logistics")
freight = d.fn("logistics.pallet_quote", "Freight quote for a pallet shipment.", origin_postcode=S(), destination_postcode=S(),
               pallets=I(minimum=1), weight_kg=N())
freight.ask("Quote for 3 pallets, 1,200 kg total, from 10115 to 80331.",
            {"origin_postcode": "10115", "destination_postcode": "80331", "pallets": 3, "weight_kg": 1200})
tire = d.fn("vehicle.tire_pressure", "Recommended tire pressure for a car model.", make=S(), model=S(), year=I())
tire.ask("What tyre pressure should a 2019 Toyota Corolla run?", {"make": "Toyota", "model": "Corolla", "year": 2019})
ev = d.fn("ev.charge_time", "Time to charge an electric car.", battery_kwh=N(), from_percent=N(), to_percent=N(),
          charger_kw=N())
ev.ask("How long to charge a 75 kWh battery from 20% to 80% on an 11 kW charger?",
       {"battery_kwh": 75, "from_percent": 20, "to_percent": 80, "charger_kw": 11})
flightco2 = d.fn("travel.flight_emissions", "CO2 of a flight per passenger.", from_airport=S("IATA code"),
                 to_airport=S("IATA code"), cabin=E(["economy", "premium", "business", "first"], opt=True),
                 round_trip=B(opt=True))
flightco2.ask("Carbon footprint of a return flight from LHR to JFK in business class?",
              {"from_airport": "LHR", "to_airport": "JFK", "cabin": "business", "round_trip": True})

# -- geometry -----------------------------------------------------------------------------------
d = BOOK.domain("shapes")
cyl = d.fn("geometry.cylinder_volume", "Volume of a cylinder.", radius=N(), height=N())
cyl.ask("Find the volume of a cylinder with radius 3 cm and height 10 cm.", {"radius": 3, "height": 10})
hyp = d.fn("calculate_hypotenuse", "Hypotenuse of a right triangle.", side_a=N(), side_b=N())
hyp.ask("Find the hypotenuse of a right triangle whose legs are 6 and 8.", {"side_a": 6, "side_b": 8})
sphere = d.fn("sphere.surface_area", "Surface area of a sphere.", radius=N(), unit=S("Length unit", opt=True))
sphere.ask("Surface area of a sphere with a radius of 7 metres?", {"radius": 7, "unit": may_omit(one_of("m", "metres",
                                                                                                      "meters"))})
trap = d.fn("area_of_trapezoid", None, base1=N(), base2=N(), height=N())
trap.ask("A trapezoid has parallel sides 8 and 14 and is 5 tall. Area?", {"base1": 8, "base2": 14, "height": 5})
distance = d.fn("points.euclidean_distance", "Distance between two points in the plane.",
                point_a=A(N(), minItems=2, maxItems=2), point_b=A(N(), minItems=2, maxItems=2))
distance.ask("How far apart are (1, 2) and (4, 6)?", {"point_a": [1, 2], "point_b": [4, 6]})

# -- the same part, a second batch: written after the first batch's rules, measured on them (22 of 33
# exact), then tuned on --------------------------------------------------------------------------------
d = BOOK.domain("everyday-science")
accel = d.fn("kinematics.final_velocity", "Final velocity under constant acceleration.",
             initial_velocity=N("m/s"), acceleration=N("m/s^2"), time=N("seconds"))
accel.ask("Calculate the final velocity of a car that starts at 10 m/s and accelerates at 3 m/s^2 for 5 seconds.",
          {"initial_velocity": 10, "acceleration": 3, "time": 5})
accel.ask("A ball is dropped from rest; how fast is it going after 2 seconds at 9.8 m/s^2?",
          {"initial_velocity": 0, "acceleration": 9.8, "time": 2}, "indirect")
heat = d.fn("thermo.heat_energy", "Heat needed to warm a mass of a substance (Q = m c dT).",
            mass_kg=N(), specific_heat=N("J/(kg K)"), temperature_change=N("Kelvin or Celsius degrees"))
heat.ask("How much heat does it take to warm 2 kg of water (c = 4186) by 30 degrees?",
         {"mass_kg": 2, "specific_heat": 4186, "temperature_change": 30})
lens = d.fn("optics.lens_image_distance", "Image distance from the thin lens equation.",
            focal_length_cm=N(), object_distance_cm=N())
lens.ask("An object sits 30 cm from a lens with a focal length of 10 cm. Where is the image?",
         {"focal_length_cm": 10, "object_distance_cm": 30})
power = d.fn("electric_power", "Electrical power from voltage and current.", voltage=N(), current=N())
power.ask("What's the power drawn by a device at 120 volts and 2.5 amps?", {"voltage": 120, "current": 2.5})
cell = d.fn("biology.cell_division_count", "Cells after a number of divisions.", initial_cells=I(minimum=1),
            divisions=I(minimum=0))
cell.ask("Starting from 5 cells, how many are there after 8 divisions?", {"initial_cells": 5, "divisions": 8})
dna = d.fn("biology.punnett_cross", "Offspring genotype ratios for two parents.", parent1=S("e.g. Aa"),
           parent2=S("e.g. aa"))
dna.ask("Cross Bb with bb - what are the offspring ratios?", {"parent1": "Bb", "parent2": "bb"})
quake = d.fn("earthquakes.recent", "Recent earthquakes near a place.", region=S(), min_magnitude=N(opt=True),
             days=I("Look-back in days, default 7", opt=True))
quake.ask("Any earthquakes above magnitude 5 near Japan in the last 30 days?",
          {"region": "Japan", "min_magnitude": 5, "days": 30})
quake.ask("recent quakes in California", {"region": "California"}, "terse")

d = BOOK.domain("everyday-life")
recipe = d.fn("recipes.find_by_ingredients", "Recipes that use the given ingredients.",
              ingredients=A(S(), minItems=1), max_minutes=I("Total time limit", opt=True),
              diet=E(["vegetarian", "vegan", "gluten_free", "none"], opt=True))
recipe.ask("What can I cook with eggs, spinach and feta in under 20 minutes?",
           {"ingredients": unordered(["eggs", "spinach", "feta"]), "max_minutes": 20})
recipe.ask("Vegan dinner ideas using chickpeas and rice.",
           {"ingredients": unordered(["chickpeas", "rice"]), "diet": "vegan"})
paint = d.fn("paint_needed", "Litres of paint for a wall.", width_m=N(), height_m=N(),
             coats=I("Default 2", opt=True, minimum=1))
paint.ask("How much paint for a wall 4 m wide and 2.5 m high, three coats?",
          {"width_m": 4, "height_m": 2.5, "coats": 3})
paint.ask("I need to paint a 12 ft by 8 ft wall. How much paint?",
          {"width_m": one_of(3.66, 3.6576), "height_m": one_of(2.44, 2.4384)}, "units")
plant = d.fn("plants.care_guide", "Care guide for a house plant.", species=S(),
             light=E(["low", "medium", "bright"], opt=True))
plant.ask("How do I look after a fiddle leaf fig in low light?", {"species": "fiddle leaf fig", "light": "low"})
babysit = d.fn("childcare.book_sitter", "Book a babysitter.", date=S("YYYY-MM-DD"), start_time=S("HH:MM"),
               hours=N(), children=I(minimum=1))
babysit.ask("Book a sitter for 2 kids on 2026-05-16 from 19:00 for 4 hours.",
            {"date": "2026-05-16", "start_time": "19:00", "hours": 4, "children": 2})
pet = d.fn("pets.find_vet", "Find a vet near a postcode.", postcode=S(), emergency=B(opt=True),
           species=E(["dog", "cat", "rabbit", "bird", "reptile"], opt=True))
pet.ask("I need an emergency vet for my rabbit near SW1A 1AA.",
        {"postcode": "SW1A 1AA", "emergency": True, "species": "rabbit"})
gift = d.fn("gifts.suggest", "Gift ideas.", recipient_age=I(), budget=N(), interests=A(S(), opt=True))
gift.ask("Gift ideas for a 12 year old who likes robots and chess, budget 50.",
         {"recipient_age": 12, "budget": 50, "interests": unordered(["robots", "chess"])})
commute = d.fn("commute.compare_modes", "Compare commute options between two addresses.", origin=S(),
               destination=S(), modes=A(E(["car", "bike", "transit", "walk"]), opt=True))
commute.ask("Compare biking and transit from Kings Cross to Canary Wharf.",
            {"origin": "Kings Cross", "destination": "Canary Wharf", "modes": unordered(["bike", "transit"])})

d = BOOK.domain("business")
invoice = d.fn("invoices.create", "Create an invoice.", customer=S(), amount=N(), currency=S("ISO 4217"),
               due_days=I("Payment terms in days", opt=True))
invoice.ask("Invoice Acme Ltd 4,500 GBP, payment due in 30 days.",
            {"customer": "Acme Ltd", "amount": 4500, "currency": "GBP", "due_days": 30})
margin = d.fn("profit_margin", "Gross margin in percent.", revenue=N(), cost=N())
margin.ask("We sold goods for 12,000 that cost us 7,800. What's the margin?", {"revenue": 12000, "cost": 7800})
breakeven = d.fn("break_even_units", "Units needed to break even.", fixed_costs=N(), price_per_unit=N(),
                 variable_cost_per_unit=N())
breakeven.ask("Fixed costs are 20,000, we sell at 50 a unit and each costs 30 to make. Break-even?",
              {"fixed_costs": 20000, "price_per_unit": 50, "variable_cost_per_unit": 30})
crm = d.fn("crm.log_call", "Log a sales call with a contact.", contact_email=S(), outcome=E(
    ["interested", "not_interested", "follow_up", "no_answer"]), notes=S(opt=True))
crm.ask("Log a call with jo@acme.io - no answer.", {"contact_email": "jo@acme.io", "outcome": "no_answer"})
crm.ask("Called sam@beta.com, wants a follow up next week about pricing.",
        {"contact_email": "sam@beta.com", "outcome": "follow_up", "notes": may_omit(contains("pricing"))})
hire = d.fn("jobs.post_opening", "Post a job opening.", title=S(), location=S(), remote=B(opt=True),
            salary_max=N(opt=True))
hire.ask("Post a remote Data Engineer job based in Berlin paying up to 85000.",
         {"title": "Data Engineer", "location": "Berlin", "remote": True, "salary_max": 85000})
stock = d.fn("inventory.reorder", "Reorder stock of a product.", sku=S(), quantity=I(minimum=1),
             supplier=S(opt=True))
stock.ask("Reorder 250 units of SKU-88213.", {"sku": "SKU-88213", "quantity": 250})

d = BOOK.domain("math-basics")
fact = d.fn("math.factorial", "Factorial of a non-negative integer.", n=I(minimum=0))
fact.ask("Calculate the factorial of 7.", {"n": 7})
perc = d.fn("percentage_of", "A percentage of a number.", percent=N(), of=N())
perc.ask("What is 15% of 240?", {"percent": 15, "of": 240})
power2 = d.fn("math.power", "Raise a base to an exponent.", base=N(), exponent=N())
power2.ask("What's 2 to the power of 10?", {"base": 2, "exponent": 10})
power2.ask("Compute 3 cubed.", {"base": 3, "exponent": 3}, "words")
lcm = d.fn("least_common_multiple", None, a=I(), b=I())
lcm.ask("Find the LCM of 12 and 18.", {"a": 12, "b": 18})
avg = d.fn("statistics.mean", "Arithmetic mean.", numbers=A(N(), minItems=1))
avg.ask("Average of 3, 7, 9 and 21?", {"numbers": [3, 7, 9, 21]})
convert_base = d.fn("number_base.convert", "Convert an integer between bases.", number=S(), from_base=I(),
                    to_base=I())
convert_base.ask("Convert 255 from base 10 to base 16.", {"number": "255", "from_base": 10, "to_base": 16})
circle = d.fn("circle.circumference", None, radius=N())
circle.ask("What is the circumference of a circle with radius 4.5?", {"radius": 4.5})

# -- the same part, a third batch: written after the second batch's rules, measured on them (17 of 26
# exact); the rules made for it were dropped (they did not carry over to the test set) ------------------
d = BOOK.domain("civic")
permit = d.fn("city.parking_permit_apply", "Apply for a residential parking permit.", plate_number=S(),
              zone=S("Permit zone, e.g. Z4"), months=I(minimum=1, maximum=12))
permit.ask("Apply for a 6 month parking permit in zone Z7 for plate KX19 ABC.",
           {"plate_number": "KX19 ABC", "zone": "Z7", "months": 6})
bins = d.fn("waste.collection_day", "Next bin collection for an address.", street_address=S(),
            bin_type=E(["general", "recycling", "garden", "food"], opt=True))
bins.ask("When is the next recycling pickup at 14 Elm Road?", {"street_address": "14 Elm Road", "bin_type": "recycling"})
vote = d.fn("elections.polling_place", "Polling place for a voter.", postcode=S(), election_date=S("YYYY-MM-DD", opt=True))
vote.ask("Where do I vote? My zip is 30301.", {"postcode": "30301"})
library_renew = d.fn("library.renew_loans", "Renew borrowed items.", card_number=S(), item_ids=A(S(), opt=True))
library_renew.ask("Renew everything on library card 2900114 please.", {"card_number": "2900114"})
library_renew.ask("Renew items B-2231 and B-9870 on card 2900114.",
                  {"card_number": "2900114", "item_ids": unordered(["B-2231", "B-9870"])})

d = BOOK.domain("media")
podcast = d.fn("audio.transcode", "Convert an audio file.", input_file=S(), output_format=E(["mp3", "ogg", "flac", "wav"]),
               bitrate_kbps=I(opt=True))
podcast.ask("Turn episode12.wav into an mp3 at 192 kbps.", {"input_file": "episode12.wav", "output_format": "mp3",
                                                           "bitrate_kbps": 192})
resize = d.fn("image.resize", "Resize an image.", path=S(), width_px=I(), height_px=I(opt=True),
              keep_aspect=B("Keep the aspect ratio", opt=True))
resize.ask("Resize photos/cat.jpg to 800 pixels wide, keeping the aspect ratio.",
           {"path": "photos/cat.jpg", "width_px": 800, "keep_aspect": True})
subtitle = d.fn("video.add_subtitles", "Burn subtitles into a video.", video=S(), subtitle_file=S(),
                language=S("ISO 639-1 code", opt=True))
subtitle.ask("Add trip.srt to trip.mp4, they're in French.", {"video": "trip.mp4", "subtitle_file": "trip.srt",
                                                             "language": "fr"})
lyrics = d.fn("music.find_lyrics", "Lyrics of a song.", title=S(), artist=S(opt=True))
lyrics.ask("Get me the lyrics to Yesterday by the Beatles.", {"title": "Yesterday",
                                                             "artist": one_of("the Beatles", "Beatles")})
stream = d.fn("streaming.search", "Search a streaming catalogue.", query=S(), kind=E(["movie", "series", "documentary"],
                                                                                   opt=True),
              max_results=I(opt=True))
stream.ask("Find documentaries about octopuses.", {"query": one_of("octopuses", "octopus"), "kind": "documentary"})

d = BOOK.domain("outdoors")
hike = d.fn("trails.search", "Hiking trails near a place.", near=S(), max_distance_km=N(opt=True),
            difficulty=E(["easy", "moderate", "hard"], opt=True))
hike.ask("Easy trails near Boulder under 8 km?", {"near": "Boulder", "max_distance_km": 8, "difficulty": "easy"})
hike.ask("Show me hard hikes around Chamonix.", {"near": "Chamonix", "difficulty": "hard"})
snow = d.fn("ski.snow_report", "Snow report for a ski resort.", resort=S(), units=E(["metric", "imperial"], opt=True))
snow.ask("How much fresh snow in Whistler, in inches?", {"resort": "Whistler", "units": "imperial"})
tide2 = d.fn("surf.forecast", "Surf forecast.", spot=S(), days=I(minimum=1, maximum=7))
tide2.ask("3-day surf forecast for Bondi Beach.", {"spot": "Bondi Beach", "days": 3})
sunrise = d.fn("sun.times", "Sunrise and sunset.", latitude=N(), longitude=N(), date=S("YYYY-MM-DD"))
sunrise.ask("Sunrise and sunset at 40.71, -74.01 on 2026-06-21?", {"latitude": 40.71, "longitude": -74.01,
                                                                   "date": "2026-06-21"})
fish = d.fn("fishing.license_price", "Price of a fishing licence.", state=S(), resident=B(),
            duration_days=I(opt=True))
fish.ask("How much is a 7 day non-resident fishing license in Montana?",
         {"state": one_of("Montana", "MT"), "resident": False, "duration_days": 7})

d = BOOK.domain("home-finance")
rent_split = d.fn("rent.split_by_room_size", "Split rent by room sizes.", total_rent=N(), room_sizes_sqm=A(N(), minItems=2))
rent_split.ask("Split 2400 rent between rooms of 12, 15 and 18 square metres.",
               {"total_rent": 2400, "room_sizes_sqm": [12, 15, 18]})
savings = d.fn("savings.goal_plan", "Monthly saving needed to reach a goal.", goal_amount=N(), months=I(minimum=1),
               current_savings=N(opt=True))
savings.ask("I want 10,000 for a car in 2 years and have 1,500 saved. How much a month?",
            {"goal_amount": 10000, "months": 24, "current_savings": 1500}, "units")
savings.ask("How much should I put aside monthly to have 3000 in 10 months?", {"goal_amount": 3000, "months": 10})
utility = d.fn("utilities.compare_plans", "Compare energy plans for a usage.", annual_kwh=N(), postcode=S(),
               green_only=B(opt=True))
utility.ask("Compare green energy plans for 3,200 kWh a year at 2000 Copenhagen.",
            {"annual_kwh": 3200, "postcode": "2000", "green_only": True})
tax = d.fn("income_tax.estimate", "Estimate income tax.", annual_income=N(), country=S(),
           filing_status=E(["single", "married_joint", "married_separate", "head_of_household"], opt=True))
tax.ask("Estimate US income tax on 95k, married filing jointly.",
        {"annual_income": 95000, "country": one_of("US", "USA", "United States"), "filing_status": "married_joint"})

d = BOOK.domain("learning")
flash = d.fn("flashcards.add", "Add a flashcard to a deck.", deck=S(), front=S(), back=S())
flash.ask("Add a card to my German deck: front 'der Hund', back 'the dog'.",
          {"deck": "German", "front": "der Hund", "back": "the dog"})
tutor = d.fn("tutoring.book_session", "Book a tutoring session.", subject=S(), level=E(["primary", "secondary",
                                                                                        "university"]),
             date=S("YYYY-MM-DD"), minutes=I(opt=True))
tutor.ask("Book a 45 minute university calculus session on 2026-02-03.",
          {"subject": "calculus", "level": "university", "date": "2026-02-03", "minutes": 45})
cite = d.fn("citations.format", "Format a citation.", doi=S(), style=E(["apa", "mla", "chicago", "harvard"]))
cite.ask("Format 10.1038/nature12373 in APA.", {"doi": "10.1038/nature12373", "style": "apa"})
spell = d.fn("spellcheck", "Check the spelling of a text.", text=S(), language=S("ISO 639-1 code", opt=True))
spell.ask("Spellcheck: 'recieve the pakage tommorow'", {"text": "recieve the pakage tommorow"})
typing = d.fn("typing_speed", "Words per minute.", words=I(), seconds=N())
typing.ask("I typed 450 words in 6 minutes. What's my WPM?", {"words": 450, "seconds": 360}, "units")

# -- the same part, a fourth batch: written after the third batch's rules were dropped, measured on
# 6a996c4's rules before any rule was made for it (26 of 38 exact) ---------------------------------------
d = BOOK.domain("transit")
route = d.fn("transit.plan_trip", "Public transport journey between two places.", origin=S(), destination=S(),
             depart_at=S("HH:MM, 24-hour", opt=True), avoid_changes=B("Fewest changes", opt=True))
route.ask("How do I get from Alexanderplatz to Potsdam Hauptbahnhof by train?",
          {"origin": "Alexanderplatz", "destination": "Potsdam Hauptbahnhof"})
route.ask("Plan a trip to Schiphol Airport from Amsterdam Centraal leaving at 07:45.",
          {"origin": "Amsterdam Centraal", "destination": "Schiphol Airport", "depart_at": "07:45"})
taxi = d.fn("rides.estimate_fare", "Estimate a taxi fare.", pickup=S(), dropoff=S(),
            vehicle=E(["standard", "xl", "premium"], opt=True))
taxi.ask("What would a premium ride from the Ferry Building to Oracle Park cost?",
         {"pickup": one_of("the Ferry Building", "Ferry Building"), "dropoff": "Oracle Park", "vehicle": "premium"})
bike_share = d.fn("bikeshare.find_docks", "Docking stations with free spaces near a place.", near=S(),
                  min_free_docks=I(opt=True))
bike_share.ask("Any docking stations near Union Square with at least 5 free spaces?",
               {"near": "Union Square", "min_free_docks": 5})
train_fare = d.fn("rail.ticket_price", "Price of a rail ticket.", from_station=S(), to_station=S(),
                  travel_date=S("YYYY-MM-DD"), railcard=B("Has a railcard discount", opt=True))
train_fare.ask("Price of a train ticket from Leeds to York on 2026-03-14?",
               {"from_station": "Leeds", "to_station": "York", "travel_date": "2026-03-14"})

d = BOOK.domain("household")
laundry = d.fn("washer.start_cycle", "Start a washing machine programme.", program=E(["cotton", "synthetics",
               "delicates", "quick"]), temperature_c=I(opt=True), spin_rpm=I(opt=True))
laundry.ask("Run a quick wash at 30 degrees with a 1200 spin.",
            {"program": "quick", "temperature_c": 30, "spin_rpm": 1200})
thermo = d.fn("heating.schedule", "Set the heating for part of the day.", room=S(), target_c=N(), from_time=S("HH:MM"),
              to_time=S("HH:MM"))
thermo.ask("Heat the study to 21 degrees from 06:30 to 08:00.",
           {"room": "study", "target_c": 21, "from_time": "06:30", "to_time": "08:00"})
shopping = d.fn("shopping_list.add_items", "Add items to a shopping list.", list_name=S(), items=A(S(), minItems=1))
shopping.ask("Put oat milk, bananas and coffee filters on the weekend list.",
             {"list_name": one_of("weekend", "weekend list", "the weekend list"), "items": unordered(["oat milk", "bananas",
                                                                                       "coffee filters"])})
chore = d.fn("chores.assign", "Assign a household chore.", chore=S(), person=S(), weekly=B(opt=True))
chore.ask("Give the bins to Sam every week.", {"chore": "bins", "person": "Sam", "weekly": True})
paint = d.fn("paint.quantity_needed", "Litres of paint for a wall area.", area_m2=N(), coats=I(opt=True),
             coverage_m2_per_litre=N(opt=True))
paint.ask("How much paint for 38 square metres, two coats?", {"area_m2": 38, "coats": 2})

d = BOOK.domain("pets-care")
vet = d.fn("vet.book_appointment", "Book a vet appointment.", pet_name=S(), species=E(["dog", "cat", "rabbit", "bird"]),
           reason=S(), date=S("YYYY-MM-DD"))
vet.ask("Book Biscuit, my rabbit, in for a nail trim on 2026-04-02.",
        {"pet_name": "Biscuit", "species": "rabbit", "reason": "nail trim", "date": "2026-04-02"})
feed = d.fn("pet_food.daily_portion", "Daily food portion for a pet.", species=E(["dog", "cat"]), weight_kg=N(),
            activity=E(["low", "normal", "high"], opt=True))
feed.ask("How much should a very active 25 kg dog eat per day?",
         {"species": "dog", "weight_kg": 25, "activity": "high"})
walker = d.fn("dog_walkers.search", "Find dog walkers.", area=S(), max_price_per_walk=N(opt=True))
walker.ask("Dog walkers in Hackney for under 15 a walk?", {"area": "Hackney", "max_price_per_walk": 15})

d = BOOK.domain("publishing")
wc = d.fn("writing.count_words", "Count the words in a text.", text=S())
wc.ask("How many words are in 'the quick brown fox jumps over the lazy dog'?",
       {"text": "the quick brown fox jumps over the lazy dog"})
isbn = d.fn("books.lookup_isbn", "Look up a book by ISBN.", isbn=S())
isbn.ask("Who wrote the book with ISBN 978-0-14-143951-8?", {"isbn": "978-0-14-143951-8"})
blog = d.fn("blog.create_post", "Create a blog post draft.", title=S(), tags=A(S(), opt=True),
            publish=B("Publish now instead of saving a draft", opt=True))
blog.ask("Draft a post titled 'Winter Cycling Tips' tagged cycling and winter.",
         {"title": "Winter Cycling Tips", "tags": unordered(["cycling", "winter"])})
translate = d.fn("docs.translate_file", "Translate a document.", path=S(), target_language=S("ISO 639-1 code"))
translate.ask("Translate notes/intro.md into Spanish.", {"path": "notes/intro.md", "target_language": "es"})
readtime = d.fn("reading_time", "Minutes needed to read a text.", word_count=I(), words_per_minute=I(opt=True))
readtime.ask("How long would 5400 words take at 250 words per minute?", {"word_count": 5400, "words_per_minute": 250})

d = BOOK.domain("it-admin")
user_add = d.fn("directory.create_user", "Create a user account.", username=S(), email=S(),
                department=S(opt=True), admin=B(opt=True))
user_add.ask("Create an account for jpark with email j.park@corp.example in Finance.",
             {"username": "jpark", "email": "j.park@corp.example", "department": "Finance"})
port = d.fn("net.check_port", "Check whether a TCP port is open on a host.", host=S(), port=I(minimum=1, maximum=65535),
            timeout_s=N(opt=True))
port.ask("Is port 5432 open on db.internal.example?", {"host": "db.internal.example", "port": 5432})
backup = d.fn("backup.schedule", "Schedule a backup job.", path=S(), frequency=E(["hourly", "daily", "weekly"]),
              keep_copies=I(opt=True))
backup.ask("Back up /var/www every night and keep 14 copies.",
           {"path": "/var/www", "frequency": "daily", "keep_copies": 14})
cert = d.fn("tls.certificate_expiry", "Days until a site's TLS certificate expires.", domain=S())
cert.ask("When does the certificate for shop.example.org run out?", {"domain": "shop.example.org"})
disk = d.fn("storage.resize_volume", "Resize a disk volume.", volume_id=S(), size_gb=I())
disk.ask("Grow vol-0a12f to 500 GB.", {"volume_id": "vol-0a12f", "size_gb": 500})

d = BOOK.domain("food-service")
table = d.fn("restaurant.reserve", "Reserve a restaurant table.", restaurant=S(), party_size=I(), date=S("YYYY-MM-DD"),
             time=S("HH:MM"), seating=E(["indoor", "outdoor", "bar"], opt=True))
table.ask("Table for 4 at Dishoom on 2026-05-09 at 19:30, outside if possible.",
          {"restaurant": "Dishoom", "party_size": 4, "date": "2026-05-09", "time": "19:30", "seating": "outdoor"})
tip = d.fn("bill.split_with_tip", "Split a bill with a tip.", total=N(), people=I(), tip_percent=N(opt=True))
tip.ask("Split 186.40 between 5 of us with an 18% tip.", {"total": 186.4, "people": 5, "tip_percent": 18})
menu = d.fn("menu.search_dishes", "Search a restaurant's menu.", restaurant=S(), dietary=E(["vegan", "vegetarian",
            "gluten_free", "halal"], opt=True), max_price=N(opt=True))
menu.ask("Vegan dishes at Lotus Garden under 12?", {"restaurant": "Lotus Garden", "dietary": "vegan", "max_price": 12})
wine = d.fn("sommelier.suggest_wine", "Suggest a wine for a dish.", dish=S(), budget=N(opt=True))
wine.ask("What wine goes with mushroom risotto?", {"dish": "mushroom risotto"})

d = BOOK.domain("science-lab")
dilute = d.fn("lab.dilution", "Volume of stock needed for a dilution (C1V1 = C2V2).", stock_concentration=N(),
              final_concentration=N(), final_volume_ml=N())
dilute.ask("How much 10 M stock do I need to make 250 ml of 0.5 M solution?",
           {"stock_concentration": 10, "final_concentration": 0.5, "final_volume_ml": 250})
halflife = d.fn("decay.remaining_amount", "Amount of a radioactive sample left.", initial_amount=N(),
                half_life=N(), elapsed=N())
halflife.ask("A 80 g sample has a half-life of 5 years. How much is left after 15 years?",
             {"initial_amount": 80, "half_life": 5, "elapsed": 15})
ph = d.fn("chem.ph_from_concentration", "pH of a solution from its hydrogen ion concentration.",
          h_concentration=N("mol/L"))
ph.ask("pH of a solution with [H+] = 0.001 mol/L?", {"h_concentration": 0.001})
cell = d.fn("microscope.field_size", "Field of view of a microscope.", eyepiece_fn=N("Field number in mm"),
            objective_mag=N())
cell.ask("Field of view with a field number of 22 mm under a 40x objective?", {"eyepiece_fn": 22, "objective_mag": 40})

d = BOOK.domain("sport-fitness")
pace = d.fn("running.pace", "Pace per kilometre for a run.", distance_km=N(), duration_minutes=N())
pace.ask("I ran 10 km in 52 minutes. What was my pace?", {"distance_km": 10, "duration_minutes": 52})
league = d.fn("football.league_table", "League table.", league=S(), season=S(opt=True))
league.ask("Show the Serie A table for 2024-25.", {"league": "Serie A", "season": "2024-25"})
swim = d.fn("pool.book_lane", "Book a swimming lane.", pool=S(), date=S("YYYY-MM-DD"), start_time=S("HH:MM"),
            minutes=I(opt=True))
swim.ask("Book a lane at Kings Hall pool on 2026-01-12 at 06:00 for 45 minutes.",
         {"pool": "Kings Hall", "date": "2026-01-12", "start_time": "06:00", "minutes": 45})
heart = d.fn("heart_rate.zones", "Training heart rate zones.", age=I(), resting_hr=I(opt=True))
heart.ask("My heart rate zones? I'm 41 with a resting pulse of 58.", {"age": 41, "resting_hr": 58})

d = BOOK.domain("retail")
ret = d.fn("orders.start_return", "Start a return for an order item.", order_id=S(), item_sku=S(),
           reason=E(["damaged", "wrong_item", "not_needed", "other"]))
ret.ask("Return SKU B-7781 from order 40091 - it arrived broken.",
        {"order_id": "40091", "item_sku": "B-7781", "reason": "damaged"})
giftcard = d.fn("giftcards.check_balance", "Balance of a gift card.", card_number=S(), pin=S(opt=True))
giftcard.ask("Balance on gift card 6034 5512 9087 with PIN 4411?", {"card_number": "6034 5512 9087", "pin": "4411"})
price_alert = d.fn("price_watch.create", "Alert when a product drops below a price.", product_url=S(), target_price=N())
price_alert.ask("Tell me when https://shop.example.com/p/88120 drops below 49.99.",
                {"product_url": "https://shop.example.com/p/88120", "target_price": 49.99})

# -- the same part, a fifth batch: written after the fourth batch's rules (journeys' ends, works and
# their makers), measured on them (fcff2a8) before any rule was made for it (15 of 30 exact) -------------
d = BOOK.domain("insurance")
quote_car = d.fn("insurance.car_quote", "Quote for car insurance.", driver_age=I(), car_value=N(),
                 postcode=S(), cover=E(["third_party", "comprehensive"], opt=True))
quote_car.ask("Comprehensive cover quote for a 23 year old driver, car worth 9500, postcode LS6 2AB.",
              {"driver_age": 23, "car_value": 9500, "postcode": "LS6 2AB", "cover": "comprehensive"})
claim = d.fn("insurance.file_claim", "File an insurance claim.", policy_number=S(), incident_date=S("YYYY-MM-DD"),
             description=S(), amount=N(opt=True))
claim.ask("File a claim on policy HX-449102 for a burst pipe on 2026-01-08, about 2300 in damage.",
          {"policy_number": "HX-449102", "incident_date": "2026-01-08", "description": "burst pipe", "amount": 2300})
travel_ins = d.fn("insurance.travel_cover", "Travel insurance for a trip.", destination=S(), days=I(), travellers=I(),
                  winter_sports=B(opt=True))
travel_ins.ask("Travel insurance for 2 people going skiing in Austria for 8 days.",
               {"destination": "Austria", "days": 8, "travellers": 2, "winter_sports": True})

d = BOOK.domain("photography")
exposure = d.fn("camera.exposure_value", "Exposure value from aperture and shutter speed.", f_number=N(),
                shutter_seconds=N(), iso=I(opt=True))
exposure.ask("EV for f/8 at 1/250 s?", {"f_number": 8, "shutter_seconds": 0.004})
print_size = d.fn("photo.max_print_size", "Largest print size for an image at a print resolution.", width_px=I(),
                  height_px=I(), dpi=I(opt=True))
print_size.ask("How big can I print a 6000 x 4000 photo at 300 dpi?", {"width_px": 6000, "height_px": 4000, "dpi": 300})
album = d.fn("photos.create_album", "Create a photo album.", name=S(), shared_with=A(S(), opt=True))
album.ask("Make an album called Lisbon 2025 and share it with ana@fam.pt and rui@fam.pt.",
          {"name": "Lisbon 2025", "shared_with": unordered(["ana@fam.pt", "rui@fam.pt"])})

d = BOOK.domain("tickets")
concert = d.fn("tickets.find_events", "Find live events.", city=S(), category=E(["concert", "theatre", "comedy",
               "sport"], opt=True), date_from=S("YYYY-MM-DD", opt=True), date_to=S("YYYY-MM-DD", opt=True))
concert.ask("Comedy shows in Glasgow between 2026-02-01 and 2026-02-07?",
            {"city": "Glasgow", "category": "comedy", "date_from": "2026-02-01", "date_to": "2026-02-07"})
seats = d.fn("tickets.hold_seats", "Hold seats for an event.", event_id=S(), quantity=I(minimum=1, maximum=10),
             section=S(opt=True))
seats.ask("Hold 3 seats in the balcony for event EV-77120.", {"event_id": "EV-77120", "quantity": 3,
                                                             "section": "balcony"})
refund = d.fn("tickets.request_refund", "Request a refund for a ticket order.", order_ref=S(), reason=S(opt=True))
refund.ask("I want my money back for order TK-55031, the show was cancelled.",
           {"order_ref": "TK-55031", "reason": contains("cancelled", "cancel")})

d = BOOK.domain("gaming")
stats = d.fn("game.player_stats", "Stats of a player in an online game.", gamertag=S(), platform=E(["pc", "xbox",
             "playstation", "switch"]))
stats.ask("Stats for NightOwl_93 on PlayStation.", {"gamertag": "NightOwl_93", "platform": "playstation"})
dice = d.fn("dice.roll", "Roll dice.", count=I(minimum=1), sides=I(minimum=2), modifier=I(opt=True))
dice.ask("Roll 3d6 plus 2.", {"count": 3, "sides": 6, "modifier": 2})
lobby = d.fn("game.create_lobby", "Create a multiplayer lobby.", game_mode=S(), max_players=I(), private=B(opt=True))
lobby.ask("Set up a private capture the flag lobby for 8 players.",
          {"game_mode": "capture the flag", "max_players": 8, "private": True})

d = BOOK.domain("parenting")
growth = d.fn("child.growth_percentile", "Height percentile for a child.", age_months=I(), height_cm=N(),
              sex=E(["female", "male"]))
growth.ask("What percentile is my 30 month old son at 92 cm tall?", {"age_months": 30, "height_cm": 92, "sex": "male"})
sitter = d.fn("babysitters.search", "Find babysitters.", area=S(), date=S("YYYY-MM-DD"), children=I(opt=True))
sitter.ask("Need a babysitter in Clapham on 2026-03-20 for two kids.",
           {"area": "Clapham", "date": "2026-03-20", "children": 2})
school = d.fn("schools.catchment", "Schools whose catchment covers an address.", address=S(),
              phase=E(["primary", "secondary"], opt=True))
school.ask("Which primary schools cover 8 Mill Lane, Didsbury?", {"address": "8 Mill Lane, Didsbury",
                                                                  "phase": "primary"})

d = BOOK.domain("accounting")
invoice = d.fn("billing.issue_invoice", "Create an invoice.", client=S(), amount=N(), currency=S("ISO 4217 code"),
               due_in_days=I(opt=True))
invoice.ask("Invoice Brightside Ltd 4,750 GBP, due in 30 days.",
            {"client": "Brightside Ltd", "amount": 4750, "currency": "GBP", "due_in_days": 30})
vat = d.fn("vat.add", "Add VAT to a net price.", net_amount=N(), rate_percent=N())
vat.ask("Add 20% VAT to 1,250.", {"net_amount": 1250, "rate_percent": 20})
deprec = d.fn("assets.depreciation", "Straight-line depreciation per year.", cost=N(), salvage_value=N(),
              useful_life_years=I())
deprec.ask("A machine costs 48,000, lasts 8 years and is worth 6,000 at the end. Yearly depreciation?",
           {"cost": 48000, "salvage_value": 6000, "useful_life_years": 8})
payroll = d.fn("payroll.net_pay", "Net pay after tax.", gross_monthly=N(), tax_code=S(opt=True))
payroll.ask("Net pay on 3,400 a month with tax code 1257L?", {"gross_monthly": 3400, "tax_code": "1257L"})

d = BOOK.domain("telecom")
roaming = d.fn("mobile.roaming_rates", "Roaming charges in a country.", country=S(), plan=S(opt=True))
roaming.ask("What are the roaming charges in Morocco on my Unlimited Max plan?",
            {"country": "Morocco", "plan": "Unlimited Max"})
speed = d.fn("broadband.availability", "Broadband speeds at an address.", postcode=S(), house_number=S())
speed.ask("What broadband can I get at 42, EH3 9DR?", {"postcode": "EH3 9DR", "house_number": "42"})
port_number = d.fn("mobile.port_number", "Move a phone number to a new provider.", phone_number=S(), pac_code=S())
port_number.ask("Port 07700 900456 over with PAC code ABC123456.",
                {"phone_number": "07700 900456", "pac_code": "ABC123456"})

d = BOOK.domain("genealogy")
records = d.fn("records.search_births", "Search birth records.", surname=S(), year_from=I(), year_to=I(),
               county=S(opt=True))
records.ask("Births of anyone named Haworth in Yorkshire between 1840 and 1860.",
            {"surname": "Haworth", "year_from": 1840, "year_to": 1860, "county": "Yorkshire"})
tree = d.fn("family_tree.add_person", "Add a person to a family tree.", full_name=S(), birth_year=I(opt=True),
            parent_of=S(opt=True))
tree.ask("Add Margaret Ellis, born 1921, as the mother of Thomas Ellis.",
         {"full_name": "Margaret Ellis", "birth_year": 1921, "parent_of": "Thomas Ellis"})

d = BOOK.domain("hospitality")
room = d.fn("hotel.room_service", "Order room service.", room_number=S(), items=A(S(), minItems=1))
room.ask("Send a club sandwich and a pot of tea to room 512.",
         {"room_number": "512", "items": unordered(["club sandwich", "pot of tea"])})
late = d.fn("hotel.late_checkout", "Request a late checkout.", booking_ref=S(), until=S("HH:MM"))
late.ask("Can booking QX81K check out at 14:00 instead?", {"booking_ref": "QX81K", "until": "14:00"})
airport_transfer = d.fn("hotel.book_transfer", "Book an airport transfer.", flight_number=S(),
                        arrival_time=S("HH:MM"), passengers=I())
airport_transfer.ask("Book a pickup for flight BA2490 landing at 09:15, three of us.",
                     {"flight_number": "BA2490", "arrival_time": "09:15", "passengers": 3})

d = BOOK.domain("home-improvement")
tiles = d.fn("tiles.count_needed", "Number of tiles for a floor.", floor_length_m=N(), floor_width_m=N(),
             tile_size_cm=N(), waste_percent=N(opt=True))
tiles.ask("How many 30 cm tiles for a 4.2 by 3 metre floor, plus 10% waste?",
          {"floor_length_m": 4.2, "floor_width_m": 3, "tile_size_cm": 30, "waste_percent": 10})
contractor = d.fn("contractors.find", "Find contractors.", trade=E(["plumber", "electrician", "roofer", "carpenter"]),
                  near=S(), emergency=B(opt=True))
contractor.ask("I need an emergency plumber near Salford right now.",
               {"trade": "plumber", "near": "Salford", "emergency": True})
solar = d.fn("solar.panel_output", "Yearly output of a solar array.", panels=I(), watts_per_panel=N(),
             location=S())
solar.ask("Yearly output of 12 panels at 400 W each in Seville?",
          {"panels": 12, "watts_per_panel": 400, "location": "Seville"})

# -- the same part, a sixth batch: written after the fifth batch's rules (held values, names whole, names
# after "called", optional dates), measured on them (9b9d872) before any rule was made for it (18 of 24
# exact) -------------------------------------------------------------------------------------------------
d = BOOK.domain("aviation")
metar = d.fn("aviation.metar", "Latest METAR weather report for an airport.", icao_code=S("4-letter ICAO code"))
metar.ask("Latest METAR for EGLL?", {"icao_code": "EGLL"})
fuel = d.fn("aviation.fuel_required", "Fuel needed for a flight leg.", distance_nm=N(), burn_rate_gph=N(),
            ground_speed_kts=N(), reserve_minutes=I(opt=True))
fuel.ask("Fuel for 420 nm at 140 knots burning 9.5 gallons an hour, with a 45 minute reserve?",
         {"distance_nm": 420, "burn_rate_gph": 9.5, "ground_speed_kts": 140, "reserve_minutes": 45})
seatmap = d.fn("airline.change_seat", "Change a passenger's seat.", booking_code=S(), passenger_surname=S(), seat=S())
seatmap.ask("Move Okafor on booking ZK7Q2P to seat 14C.",
            {"booking_code": "ZK7Q2P", "passenger_surname": "Okafor", "seat": "14C"})

d = BOOK.domain("pharmacy")
refill = d.fn("pharmacy.request_refill", "Request a prescription refill.", prescription_number=S(), pharmacy=S(),
              pickup_date=S("YYYY-MM-DD", opt=True))
refill.ask("Refill prescription RX-3310927 at the Elm Street pharmacy for pickup on 2026-02-14.",
           {"prescription_number": "RX-3310927", "pharmacy": one_of("Elm Street", "the Elm Street pharmacy",
                                                                     "Elm Street pharmacy"), "pickup_date": "2026-02-14"})
interact = d.fn("drugs.check_interaction", "Check two drugs for interactions.", drug_a=S(), drug_b=S())
interact.ask("Can I take ibuprofen with warfarin?", {"drug_a": "ibuprofen", "drug_b": "warfarin"})
dose_child = d.fn("dosing.paracetamol_child", "Paracetamol dose for a child.", weight_kg=N(), age_years=I(opt=True))
dose_child.ask("Paracetamol dose for a 4 year old weighing 16 kg?", {"weight_kg": 16, "age_years": 4})

d = BOOK.domain("car-rental")
rent_car = d.fn("cars.search_rentals", "Search rental cars.", pickup_location=S(), pickup_date=S("YYYY-MM-DD"),
                return_date=S("YYYY-MM-DD"), car_class=E(["economy", "compact", "suv", "van"], opt=True))
rent_car.ask("Find an SUV at Faro airport from 2026-07-03 to 2026-07-10.",
             {"pickup_location": one_of("Faro airport", "Faro"), "pickup_date": "2026-07-03",
              "return_date": "2026-07-10", "car_class": "suv"})
toll = d.fn("roads.toll_cost", "Toll cost of a route.", start_city=S(), end_city=S(), vehicle=E(["car", "motorbike",
            "van"], opt=True))
toll.ask("How much are the tolls driving from Lyon to Marseille?", {"start_city": "Lyon", "end_city": "Marseille"})
ev = d.fn("ev.charging_time", "Time to charge an electric car.", battery_kwh=N(), from_percent=N(), to_percent=N(),
          charger_kw=N())
ev.ask("How long to charge a 77 kWh battery from 20% to 80% on a 50 kW charger?",
       {"battery_kwh": 77, "from_percent": 20, "to_percent": 80, "charger_kw": 50})

d = BOOK.domain("museums")
exhibit = d.fn("museum.exhibitions", "Current exhibitions at a museum.", museum=S(), month=S("YYYY-MM", opt=True))
exhibit.ask("What's on at the Tate Modern in 2026-04?", {"museum": one_of("Tate Modern", "the Tate Modern"),
                                                        "month": "2026-04"})
guide = d.fn("museum.book_guide", "Book a guided tour.", museum=S(), language=S("ISO 639-1 code"), group_size=I())
guide.ask("Book a guided tour of the Prado in Spanish for 6 people.",
          {"museum": one_of("Prado", "the Prado"), "language": "es", "group_size": 6})
artwork = d.fn("art.artwork_info", "Facts about an artwork.", title=S(), artist=S(opt=True))
artwork.ask("Tell me about Girl with a Pearl Earring by Vermeer.",
            {"title": "Girl with a Pearl Earring", "artist": "Vermeer"})

d = BOOK.domain("languages")
conj = d.fn("grammar.conjugate", "Conjugate a verb.", verb=S(), language=S("ISO 639-1 code"),
            tense=E(["present", "past", "future"], opt=True))
conj.ask("Conjugate 'tener' in the past tense in Spanish.", {"verb": "tener", "language": "es", "tense": "past"})
vocab = d.fn("vocab.quiz", "A vocabulary quiz.", language=S("ISO 639-1 code"), topic=S(), questions=I(opt=True))
vocab.ask("Give me a 10 question Italian quiz on food.", {"language": "it", "topic": "food", "questions": 10})
pron = d.fn("pronounce.word", "How to pronounce a word.", word=S(), accent=E(["us", "uk", "au"], opt=True))
pron.ask("How do you say 'quinoa' in a British accent?", {"word": "quinoa", "accent": "uk"})

d = BOOK.domain("marine")
tide_chart = d.fn("marine.tide_chart", "Tide times for a harbour.", harbour=S(), date=S("YYYY-MM-DD"))
tide_chart.ask("High and low tides at Whitby harbour on 2026-08-09?", {"harbour": "Whitby", "date": "2026-08-09"})
knots = d.fn("marine.passage_time", "Time for a sailing passage.", distance_nm=N(), speed_knots=N())
knots.ask("How long to sail 36 nautical miles at 6 knots?", {"distance_nm": 36, "speed_knots": 6})
mooring = d.fn("marina.book_berth", "Book a marina berth.", marina=S(), boat_length_m=N(), nights=I())
mooring.ask("Berth for a 11.5 m boat at Port Solent for 3 nights.",
            {"marina": "Port Solent", "boat_length_m": 11.5, "nights": 3})

d = BOOK.domain("nonprofit")
donate = d.fn("donations.record", "Record a donation.", donor_name=S(), amount=N(), campaign=S(opt=True),
              gift_aid=B(opt=True))
donate.ask("Record 250 from Priya Nair for the Winter Appeal, with gift aid.",
           {"donor_name": "Priya Nair", "amount": 250, "campaign": "Winter Appeal", "gift_aid": True})
volunteer = d.fn("volunteers.schedule_shift", "Schedule a volunteer shift.", volunteer_email=S(), date=S("YYYY-MM-DD"),
                 role=S())
volunteer.ask("Put lee@helpers.org on the food bank sorting shift on 2026-05-16.",
              {"volunteer_email": "lee@helpers.org", "date": "2026-05-16", "role": contains("sorting", "sort")})
grant = d.fn("grants.search", "Search grant funding.", topic=S(), max_amount=N(opt=True), region=S(opt=True))
grant.ask("Grants for youth sport projects in Wales up to 5000?",
          {"topic": "youth sport", "max_amount": 5000, "region": "Wales"})

d = BOOK.domain("space")
launch = d.fn("launches.upcoming", "Upcoming rocket launches.", provider=S(opt=True), limit=I(opt=True))
launch.ask("Next 5 launches by SpaceX?", {"provider": "SpaceX", "limit": 5})
iss = d.fn("iss.pass_times", "When the ISS passes over a place.", latitude=N(), longitude=N(), passes=I(opt=True))
iss.ask("Next 3 ISS passes over 51.5, -0.12?", {"latitude": 51.5, "longitude": -0.12, "passes": 3})
rocket = d.fn("rocket.delta_v", "Delta-v from the rocket equation.", isp_seconds=N(), wet_mass_kg=N(), dry_mass_kg=N())
rocket.ask("Delta-v for an engine with Isp 311 s, 549,000 kg fuelled and 25,600 kg empty?",
           {"isp_seconds": 311, "wet_mass_kg": 549000, "dry_mass_kg": 25600})

# -- the same part, a seventh batch: written after the sixth batch's rules (a copy never its key's word
# nor a code sibling's words), measured on them (7565875) before any rule was made for it --------------
d = BOOK.domain("cycling")
gear = d.fn("bike.gear_ratio", "Gear ratio and development of a chainring and cog.", chainring_teeth=I(),
            cog_teeth=I(), wheel_diameter_mm=N(opt=True))
gear.ask("What's the gear ratio of a 50 tooth chainring with an 11 tooth cog?",
         {"chainring_teeth": 50, "cog_teeth": 11})
route = d.fn("bike.plan_route", "Plan a cycling route.", start=S(), end=S(), avoid_hills=B(opt=True),
             surface=E(["road", "gravel", "any"], opt=True))
route.ask("Plan a gravel ride from Girona to Banyoles that avoids hills.",
          {"start": "Girona", "end": "Banyoles", "avoid_hills": True, "surface": "gravel"})
tyre = d.fn("bike.tyre_pressure", "Suggested tyre pressure.", rider_weight_kg=N(), tyre_width_mm=N(),
            tubeless=B(opt=True))
tyre.ask("Tyre pressure for a 72 kg rider on 28 mm tubeless tyres?",
         {"rider_weight_kg": 72, "tyre_width_mm": 28, "tubeless": True})

d = BOOK.domain("electrical")
cable = d.fn("electrical.cable_size", "Minimum cable cross-section for a circuit.", current_amps=N(), length_m=N(),
             max_voltage_drop_percent=N(opt=True))
cable.ask("What cable size for a 32 amp circuit running 25 metres, with at most 3% voltage drop?",
          {"current_amps": 32, "length_m": 25, "max_voltage_drop_percent": 3})
power = d.fn("electrical.power", "Electrical power from voltage and current.", volts=N(), amps=N())
power.ask("How many watts is 12 volts at 4.5 amps?", {"volts": 12, "amps": 4.5})
breaker = d.fn("home.breaker_toggle", "Switch a circuit breaker on or off.", circuit=S(), on=B())
breaker.ask("Turn off the breaker for the kitchen sockets.", {"circuit": contains("kitchen sockets", "kitchen"),
                                                             "on": False})

d = BOOK.domain("beekeeping")
inspect = d.fn("hives.log_inspection", "Log a hive inspection.", hive_id=S(), date=S("YYYY-MM-DD"),
               queen_seen=B(opt=True), frames_of_brood=I(opt=True))
inspect.ask("Log an inspection of hive H-12 on 2026-06-14: queen seen, 6 frames of brood.",
            {"hive_id": "H-12", "date": "2026-06-14", "queen_seen": True, "frames_of_brood": 6})
honey = d.fn("hives.honey_yield", "Estimate honey yield from supers.", supers=I(), frames_per_super=I(opt=True))
honey.ask("How much honey from 3 full supers?", {"supers": 3})

d = BOOK.domain("dentistry")
dentist = d.fn("dental.book_checkup", "Book a dental appointment.", patient_name=S(), date=S("YYYY-MM-DD"),
               hygienist=B(opt=True))
dentist.ask("Book Maya Chen a checkup with the hygienist on 2026-03-12.",
            {"patient_name": "Maya Chen", "date": "2026-03-12", "hygienist": True})
chart = d.fn("dental.record_filling", "Record a filling on a tooth.", tooth_number=I(), surface=E(
    ["occlusal", "mesial", "distal", "buccal", "lingual"]), material=E(["amalgam", "composite", "ceramic"]))
chart.ask("Composite filling on tooth 36, occlusal surface.",
          {"tooth_number": 36, "surface": "occlusal", "material": "composite"})

d = BOOK.domain("brewing")
abv = d.fn("brew.abv", "Alcohol by volume from gravity readings.", original_gravity=N(), final_gravity=N())
abv.ask("My stout went from 1.058 to 1.014. What's the ABV?", {"original_gravity": 1.058, "final_gravity": 1.014})
ibu = d.fn("brew.hop_bitterness", "Bitterness (IBU) of a hop addition.", hop_grams=N(), alpha_acid_percent=N(),
           boil_minutes=N(), batch_litres=N())
ibu.ask("IBU for 30 g of 5.5% alpha hops boiled 60 minutes in a 20 litre batch?",
        {"hop_grams": 30, "alpha_acid_percent": 5.5, "boil_minutes": 60, "batch_litres": 20})

d = BOOK.domain("printing3d")
slice_ = d.fn("printer3d.slice", "Slice a model for 3D printing.", model_file=S(), layer_height_mm=N(),
              infill_percent=I(opt=True), supports=B(opt=True))
slice_.ask("Slice bracket.stl at 0.2 mm layers with 20% infill and supports.",
           {"model_file": "bracket.stl", "layer_height_mm": 0.2, "infill_percent": 20, "supports": True})
filament = d.fn("printer3d.filament_cost", "Cost of the filament a print uses.", grams=N(), spool_price=N(),
                spool_grams=N(opt=True))
filament.ask("A print uses 85 g from a 1000 g spool that cost 22. What did the filament cost?",
             {"grams": 85, "spool_price": 22, "spool_grams": 1000})

d = BOOK.domain("theatre")
seats = d.fn("theatre.find_seats", "Find available seats for a performance.", show=S(), date=S("YYYY-MM-DD"),
             tickets=I(), area=E(["stalls", "circle", "balcony", "box"], opt=True))
seats.ask("Two seats in the stalls for Hamilton on 2026-09-19.",
          {"show": "Hamilton", "date": "2026-09-19", "tickets": 2, "area": "stalls"})
review = d.fn("theatre.reviews", "Critics' reviews of a production.", show=S(), limit=I(opt=True))
review.ask("Show me 5 reviews of The Mousetrap.", {"show": "The Mousetrap", "limit": 5})

d = BOOK.domain("cloud-costs")
vmcost = d.fn("cloud.estimate_vm_cost", "Monthly cost of a virtual machine.", vcpus=I(), memory_gb=N(),
              region=S(), hours_per_month=N(opt=True))
vmcost.ask("Monthly cost of a 4 vCPU, 16 GB machine in eu-west-1?",
           {"vcpus": 4, "memory_gb": 16, "region": "eu-west-1"})
bucket = d.fn("storage.set_lifecycle", "Move old objects in a bucket to cold storage.", bucket=S(),
              after_days=I(), storage_class=E(["infrequent", "archive", "deep_archive"]))
bucket.ask("Archive objects in logs-prod after 90 days.",
           {"bucket": "logs-prod", "after_days": 90, "storage_class": "archive"})

d = BOOK.domain("knitting")
yarn = d.fn("knit.yarn_needed", "How much yarn a project needs.", project=E(["scarf", "hat", "sweater", "socks"]),
            size=S(opt=True), yarn_weight=E(["lace", "fingering", "dk", "worsted", "bulky"]))
yarn.ask("How much worsted yarn for a medium sweater?",
         {"project": "sweater", "size": "medium", "yarn_weight": "worsted"})
gauge = d.fn("knit.gauge_convert", "Stitches needed for a width at a gauge.", stitches_per_10cm=N(), width_cm=N())
gauge.ask("At 22 stitches per 10 cm, how many stitches for a 54 cm wide piece?",
          {"stitches_per_10cm": 22, "width_cm": 54})

d = BOOK.domain("podcasts")
episode = d.fn("podcast.publish_episode", "Publish a podcast episode.", show_id=S(), title=S(), audio_file=S(),
               explicit=B(opt=True))
episode.ask("Publish ep42.mp3 on show pod-311 titled \"The Long Way Round\".",
            {"show_id": "pod-311", "title": "The Long Way Round", "audio_file": "ep42.mp3"})
subs = d.fn("podcast.subscribe", "Subscribe to a podcast.", podcast_name=S(), auto_download=B(opt=True))
subs.ask("Subscribe me to Hardcore History and download new episodes automatically.",
         {"podcast_name": "Hardcore History", "auto_download": True})

d = BOOK.domain("laundry")
wash = d.fn("laundry.start_wash", "Start a washing machine cycle.", program=E(["cotton", "synthetics", "wool",
            "delicates", "quick"]), temperature_c=I(), spin_rpm=I(opt=True))
wash.ask("Wash the wool jumpers at 30 degrees, 800 spin.",
         {"program": "wool", "temperature_c": 30, "spin_rpm": 800})
stain = d.fn("laundry.stain_advice", "How to remove a stain.", stain=S(), fabric=S(opt=True))
stain.ask("How do I get red wine out of a linen tablecloth?", {"stain": "red wine", "fabric": "linen"})

d = BOOK.domain("genetics")
hw = d.fn("genetics.hardy_weinberg", "Genotype frequencies under Hardy-Weinberg equilibrium.",
         recessive_allele_freq=N("Between 0 and 1"), population=I(opt=True))
hw.ask("If the recessive allele frequency is 0.3, what share of a population of 5000 are carriers?",
       {"recessive_allele_freq": 0.3, "population": 5000})
gc = d.fn("dna.gc_content", "GC content of a DNA sequence.", sequence=S())
gc.ask("GC content of ATGCGCGATTA?", {"sequence": "ATGCGCGATTA"})

d = BOOK.domain("board-games")
score = d.fn("games.record_score", "Record a board game result.", game=S(), winner=S(), players=A(S()))
score.ask("Record a Catan game: Ravi won, playing with Jo and Lena.",
          {"game": "Catan", "winner": "Ravi", "players": unordered(["Ravi", "Jo", "Lena"])})
rules = d.fn("games.rules_lookup", "Look up a rule in a game's rulebook.", game=S(), question=S())
rules.ask("In Ticket to Ride, can you claim both routes of a double route with 3 players?",
          {"game": "Ticket to Ride", "question": contains("claim both routes of a double route with 3 players",
                                                          "double route")})

d = BOOK.domain("recycling")
pickup = d.fn("council.bulky_pickup", "Book a bulky waste collection.", address=S(), items=A(S()),
              date=S("YYYY-MM-DD", opt=True))
pickup.ask("Collect an old sofa and a fridge from 14 Elm Road.",
           {"address": "14 Elm Road", "items": unordered(["sofa", "fridge"])})
bin_day = d.fn("council.bin_day", "Next collection day for a bin.", postcode=S(), bin=E(["general", "recycling",
               "garden", "food"]))
bin_day.ask("When is the garden waste collected at BS6 5QA?", {"postcode": "BS6 5QA", "bin": "garden"})

# -- the same part, an eighth batch: written after the seventh batch's rules (lists of words take no
# numbers, a copy never opens with the tool's word, places named with "in", electrical units), measured on
# them (aaa1d3a) before any rule was made for it ------------------------------------------------------
d = BOOK.domain("climbing")
grade = d.fn("climbing.convert_grade", "Convert a climbing grade between systems.", grade=S(),
             from_system=E(["french", "yds", "uiaa"]), to_system=E(["french", "yds", "uiaa"]))
grade.ask("What is French 6b in YDS?", {"grade": "6b", "from_system": "french", "to_system": "yds"})
gym = d.fn("climbing.book_gym_session", "Book a climbing gym session.", gym=S(), date=S("YYYY-MM-DD"),
           people=I(), rental_shoes=B(opt=True))
gym.ask("Book 3 of us into The Castle climbing centre on 2026-02-21, we need rental shoes.",
        {"gym": one_of("The Castle", "The Castle climbing centre"), "date": "2026-02-21", "people": 3,
         "rental_shoes": True})

d = BOOK.domain("fishing")
licence = d.fn("fishing.buy_licence", "Buy a fishing licence.", angler_name=S(), days=I(),
               water=E(["freshwater", "saltwater"]))
licence.ask("Buy Tom Reyes an 8 day freshwater fishing licence.",
            {"angler_name": "Tom Reyes", "days": 8, "water": "freshwater"})
catch = d.fn("fishing.log_catch", "Log a fish caught.", species=S(), weight_kg=N(), released=B(opt=True))
catch.ask("Log a 2.3 kg pike, released.", {"species": "pike", "weight_kg": 2.3, "released": True})

d = BOOK.domain("weddings")
guests = d.fn("wedding.add_guest", "Add a guest to the wedding list.", name=S(), table=I(opt=True),
              dietary=S(opt=True))
guests.ask("Add Priya Shah to table 4, she's vegetarian.",
           {"name": "Priya Shah", "table": 4, "dietary": "vegetarian"})
budget = d.fn("wedding.budget_split", "Split a wedding budget into categories.", total=N(),
              guests=I(), venue_share_percent=N(opt=True))
budget.ask("Split a 25,000 budget for 90 guests.", {"total": 25000, "guests": 90})

d = BOOK.domain("cryptography")
hash_ = d.fn("crypto.digest", "Hash a text.", text=S(), algorithm=E(["md5", "sha1", "sha256", "sha512"]))
hash_.ask("SHA-512 of 'hello world' please.", {"text": "hello world", "algorithm": "sha512"})
keygen = d.fn("crypto.generate_key", "Generate a key pair.", kind=E(["rsa", "ed25519", "ecdsa"]),
              bits=I(opt=True), comment=S(opt=True))
keygen.ask("Generate a 4096-bit RSA key with the comment deploy@ci.",
           {"kind": "rsa", "bits": 4096, "comment": "deploy@ci"})

d = BOOK.domain("oceanography")
wave = d.fn("ocean.wave_forecast", "Wave forecast for a surf spot.", spot=S(), days=I(opt=True))
wave.ask("Surf forecast for Hossegor for the next 3 days?", {"spot": "Hossegor", "days": 3})
salinity = d.fn("ocean.density", "Seawater density.", temperature_c=N(), salinity_psu=N(), depth_m=N(opt=True))
salinity.ask("Density of seawater at 12 °C and 35 PSU, 200 m down?",
             {"temperature_c": 12, "salinity_psu": 35, "depth_m": 200})

d = BOOK.domain("typography")
pair = d.fn("fonts.suggest_pairing", "Suggest a font to pair with another.", font=S(), use=E(["web", "print"],
            opt=True))
pair.ask("What goes well with Garamond for print?", {"font": "Garamond", "use": "print"})
scale = d.fn("fonts.type_scale", "A modular type scale.", base_px=N(), ratio=N(), steps=I(opt=True))
scale.ask("Type scale from 16 px with a 1.25 ratio, 6 steps.", {"base_px": 16, "ratio": 1.25, "steps": 6})

d = BOOK.domain("mental-health")
mood = d.fn("wellbeing.log_mood", "Log a mood entry.", mood=E(["great", "good", "okay", "low", "bad"]),
            note=S(opt=True), sleep_hours=N(opt=True))
mood.ask("Log my mood as low, only slept 5 hours.", {"mood": "low", "sleep_hours": 5})
breathe = d.fn("wellbeing.breathing_exercise", "Start a guided breathing exercise.", pattern=E(["box", "4-7-8",
               "coherent"]), minutes=I())
breathe.ask("Start a 5 minute box breathing session.", {"pattern": "box", "minutes": 5})

d = BOOK.domain("car-maintenance")
service = d.fn("garage.book_service", "Book a car service.", registration=S(), service=E(["interim", "full",
               "major"]), date=S("YYYY-MM-DD"))
service.ask("Book a full service for AB12 CDE on 2026-03-30.",
            {"registration": "AB12 CDE", "service": "full", "date": "2026-03-30"})
mpg = d.fn("car.fuel_economy", "Fuel economy from a trip.", miles=N(), gallons=N())
mpg.ask("I drove 312 miles on 9.6 gallons. What's my mpg?", {"miles": 312, "gallons": 9.6})

d = BOOK.domain("volunteering")
search_v = d.fn("volunteer.find_roles", "Find volunteering roles.", near=S(), cause=S(opt=True),
                hours_per_week=I(opt=True))
search_v.ask("Volunteering with animals near Bristol, about 4 hours a week.",
             {"near": "Bristol", "cause": "animals", "hours_per_week": 4})

d = BOOK.domain("railways")
rail = d.fn("rail.seat_reservation", "Reserve a seat on a train.", train_number=S(), coach=S(opt=True),
            window=B(opt=True))
rail.ask("Reserve a window seat on ICE 597 in coach 7.", {"train_number": "ICE 597", "coach": "7", "window": True})
delay = d.fn("rail.delay_compensation", "Compensation for a delayed train.", ticket_price=N(), delay_minutes=I())
delay.ask("My 48 pound ticket was 75 minutes late. What compensation do I get?",
          {"ticket_price": 48, "delay_minutes": 75})

d = BOOK.domain("astrophotography")
exposure = d.fn("astro.max_exposure", "Longest exposure before stars trail (500 rule).", focal_length_mm=N(),
                crop_factor=N(opt=True))
exposure.ask("Longest exposure at 24 mm on a 1.5 crop sensor?", {"focal_length_mm": 24, "crop_factor": 1.5})

d = BOOK.domain("coffee")
brew = d.fn("coffee.brew_ratio", "Water for a brew ratio.", coffee_grams=N(), ratio=N())
brew.ask("How much water for 18 g of coffee at 1:16?", {"coffee_grams": 18, "ratio": 16})
order = d.fn("cafe.order_drink", "Order a drink.", drink=S(), size=E(["small", "medium", "large"]),
             milk=S(opt=True), extra_shot=B(opt=True))
order.ask("A large flat white with oat milk and an extra shot.",
          {"drink": "flat white", "size": "large", "milk": "oat", "extra_shot": True})

d = BOOK.domain("libraries")
hold = d.fn("library.place_hold", "Place a hold on a book.", title=S(), branch=S(opt=True))
hold.ask("Put a hold on Tomorrow, and Tomorrow, and Tomorrow at the Central branch.",
         {"title": "Tomorrow, and Tomorrow, and Tomorrow", "branch": one_of("Central", "the Central branch")})
fines = d.fn("library.pay_fines", "Pay library fines.", card_number=S(), amount=N())
fines.ask("Pay 3.40 in fines on card 77120934.", {"card_number": "77120934", "amount": 3.4})

d = BOOK.domain("freelancing")
rate = d.fn("freelance.day_rate", "Day rate for a target annual income.", target_income=N(), billable_days=I(),
            expenses=N(opt=True))
rate.ask("What day rate do I need to make 60k over 180 billable days with 8k of expenses?",
         {"target_income": 60000, "billable_days": 180, "expenses": 8000})
timelog = d.fn("freelance.log_time", "Log time on a client project.", client=S(), project=S(), hours=N())
timelog.ask("Log 2.5 hours for Acme on the website redesign.",
            {"client": "Acme", "project": contains("website redesign", "website"), "hours": 2.5})
